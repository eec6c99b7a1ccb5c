// Sign-in (/) and sign-up (/signup): posts the form as JSON to /login or /register and goes to
// the dashboard; shows the server's reason otherwise (wrong password, retry time, name taken).
import { ApiError, messageOf, post } from './api.js';
import { captchaResponse, resetCaptcha, setupCaptcha } from './recaptcha.js';
import { $, busy, showMessage } from './ui.js';

const form = $('#auth-form');
const errorBox = $('#form-error');
const register = form.dataset.mode === 'register';

setupCaptcha($('#captcha'));

function explain(err) {
  if (!(err instanceof ApiError)) return messageOf(err);
  if (err.status === 429 && err.retryAfter && !/\d/.test(err.detail))
    return `${err.detail} Try again in ${err.retryAfter} seconds.`;
  if (err.status === 409) return `${err.detail}. Choose another username, or sign in.`;
  return err.detail;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('#username').value.trim();
  const password = $('#password').value;
  if (!name || !password) {
    showMessage(errorBox, 'Enter your username and password.');
    (name ? $('#password') : $('#username')).focus();
    return;
  }
  if (register && password !== $('#password2').value) {
    showMessage(errorBox, 'The two passwords differ.');
    $('#password2').focus();
    return;
  }
  showMessage(errorBox, '');
  const body = register
    ? { login: name, password, g_recaptcha_response: captchaResponse() }
    : { username: name, password, g_recaptcha_response: captchaResponse() };
  busy(form.querySelector('button[type=submit]'), async () => {
    try {
      await post(register ? '/register' : '/login', body);
      window.location.assign('/profile');
    } catch (err) {
      showMessage(errorBox, explain(err));
      resetCaptcha();
      $('#password').select();
    }
  });
});
