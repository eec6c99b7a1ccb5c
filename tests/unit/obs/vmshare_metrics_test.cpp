#include "obs/vmshare_metrics.h"

#include <gtest/gtest.h>

#include "obs/prometheus_text.h"

using namespace vmshare::obs;

TEST(VmshareMetrics, ApiNamesAndLabels) {
  Registry r;
  VmshareMetrics m(r);
  m.observe_request("GET", "/vm/status", 200, 0.003);
  m.observe_request("POST", "/login", 401, 0.2);
  m.observe_request("POST", "/token", 429, 0.01);
  m.set_build_info("1.2.3");
  const auto text = prometheus_text(r.collect());
  for (const char* name :
       {"vmshare_request_duration_seconds", "vmshare_requests_total", "vmshare_host_cpu_percent",
        "vmshare_host_ram_percent", "vmshare_users_total", "vmshare_active_sessions", "vmshare_user_active_vms",
        "vmshare_user_cpu_percent", "vmshare_user_rss_bytes", "vmshare_db_query_seconds", "vmshare_db_errors_total",
        "vmshare_db_pool_in_use", "vmshare_console_open", "vmshare_console_bytes_total",
        "vmshare_vm_launch_duration_seconds", "vmshare_vm_exits_total", "vmshare_failed_logins_total",
        "vmshare_build_info"})
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  EXPECT_NE(text.find("vmshare_requests_total{path=\"/vm/status\",method=\"GET\",status=\"200\"} 1"), std::string::npos);
  EXPECT_NE(text.find("vmshare_failed_logins_total{reason=\"bad_credentials\"} 1"), std::string::npos);
  EXPECT_NE(text.find("vmshare_failed_logins_total{reason=\"throttled\"} 1"), std::string::npos);
  EXPECT_NE(text.find("vmshare_build_info{version=\"1.2.3\"} 1"), std::string::npos);
}
