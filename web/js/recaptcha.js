// The reCAPTCHA widget, only when the server has a site key (GET /config.json). Google's script is
// loaded with an onload callback name, not an inline script, so the CSP can stay strict.

let widgetId = null;

export async function setupCaptcha(container) {
  let config;
  try {
    const res = await fetch('/config.json', { credentials: 'same-origin' });
    config = res.ok ? await res.json() : {};
  } catch { config = {}; }
  const key = config.recaptcha_site_key;
  if (!key || !container) return;
  container.hidden = false;
  await new Promise((resolve, reject) => {
    window.vmshareCaptchaReady = resolve;
    const s = document.createElement('script');
    s.src = 'https://www.google.com/recaptcha/api.js?onload=vmshareCaptchaReady&render=explicit';
    s.async = true;
    s.onerror = () => reject(new Error('reCAPTCHA could not load'));
    document.head.append(s);
  }).catch(() => { container.textContent = 'The reCAPTCHA check could not load; reload the page to retry.'; });
  if (window.grecaptcha) widgetId = window.grecaptcha.render(container, { sitekey: key, theme: 'dark' });
}

// The token to send as g_recaptcha_response ('' without a widget).
export const captchaResponse = () => (widgetId !== null ? window.grecaptcha.getResponse(widgetId) : '');
export const resetCaptcha = () => { if (widgetId !== null) window.grecaptcha.reset(widgetId); };
