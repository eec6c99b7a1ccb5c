-- wrk script: every request carries the session cookie given in VMSHARE_COOKIE.
wrk.method = "GET"
wrk.headers["Cookie"] = os.getenv("VMSHARE_COOKIE")
