/** Enable promotions: a dialog above the polled pipeline page (its markup is in index.html). */
import { post } from './api.js';

/**
 * Asks why, then opens a stage's promotions in and out. The dialog lives outside the page
 * that redraws every second, so what the user types survives the redraws. One request id
 * per opening: a double submit is recognised by the server and changes nothing twice.
 */
export function openPromotionsDialog(stage, why) {
  const dialog = document.getElementById('promotions-dialog');
  const form = document.getElementById('promotions-form');
  const reason = document.getElementById('promotions-reason');
  const error = document.getElementById('promotions-error');
  const requestId = crypto.randomUUID();
  document.getElementById('promotions-title').textContent = `Enable promotions of ${stage}`;
  document.getElementById('promotions-why').textContent = `Promotions ${why}.`;
  reason.value = '';
  error.hidden = true;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (text.length < 3) {
      error.textContent = 'Give a reason of at least 3 characters: it goes into the audit log.';
      error.hidden = false;
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await post(['promotions'], {
        stage,
        direction: 'both',
        enabled: true,
        reason: text,
        requestId,
      });
      dialog.close();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  };
  document.getElementById('promotions-cancel').onclick = () => dialog.close();
  dialog.showModal();
  reason.focus();
}
