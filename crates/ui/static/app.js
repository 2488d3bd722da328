// Kenshin Relay: the few places where a script helps. Pages work without it except the
// upload progress. No inline script anywhere (the CSP forbids it).
'use strict';

(function () {
  // Session timeout notice: warn two minutes before the idle timeout, then go to the login
  // page, which says why.
  var idle = parseInt(document.body.getAttribute('data-idle-seconds') || '0', 10);
  if (idle > 0) {
    var notice = document.getElementById('session-notice');
    var warnAfter = Math.max(idle - 120, Math.floor(idle * 0.8)) * 1000;
    setTimeout(function () { if (notice) { notice.hidden = false; } }, warnAfter);
    setTimeout(function () { window.location.assign('/login?expired=1'); }, idle * 1000 + 1000);
  }

  // Confirmation dialogs for irreversible actions (受信完了).
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) {
        event.preventDefault();
      }
    });
  });

  // The same for a button that changes its form's action (bulk 受信完了 in the inbox).
  document.querySelectorAll('button[data-confirm]').forEach(function (button) {
    button.addEventListener('click', function (event) {
      if (!window.confirm(button.getAttribute('data-confirm'))) {
        event.preventDefault();
      }
    });
  });

  // Bulk actions are usable once a file is ticked.
  var bulk = document.querySelector('form[data-testid="bulk"]');
  if (bulk) {
    var boxes = bulk.querySelectorAll('input[name="id"]');
    var actions = bulk.querySelectorAll('.actions button');
    var update = function () {
      var any = Array.prototype.some.call(boxes, function (b) { return b.checked; });
      Array.prototype.forEach.call(actions, function (b) { b.disabled = !any; });
    };
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener('change', update); });
    update();
  }

  // The confirm button becomes usable once the file has been downloaded.
  var download = document.querySelector('[data-testid="download"]');
  var confirmButton = document.querySelector('[data-testid="confirm"]');
  if (download && confirmButton) {
    download.addEventListener('click', function () {
      setTimeout(function () { confirmButton.disabled = false; confirmButton.removeAttribute('title'); }, 500);
    });
  }

  // Uploads: each file streamed to the API with a progress bar; then the receipt page.
  var form = document.getElementById('upload');
  if (!form) { return; }
  var input = document.getElementById('files');
  var drop = document.getElementById('drop');
  var list = document.getElementById('progress');
  ['dragenter', 'dragover'].forEach(function (name) {
    drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (name) {
    drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
  });

  function send(file, to) {
    return new Promise(function (resolve) {
      var item = document.createElement('li');
      var label = document.createElement('span');
      label.textContent = file.name + ' ';
      var bar = document.createElement('progress');
      bar.max = 100; bar.value = 0;
      bar.setAttribute('aria-label', file.name);
      var status = document.createElement('span');
      status.className = 'status';
      item.appendChild(label); item.appendChild(bar); item.appendChild(status);
      list.appendChild(item);
      var query = 'filename=' + encodeURIComponent(file.name) + (to ? '&to=' + encodeURIComponent(to) : '');
      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/v1/submissions?' + query);
      xhr.setRequestHeader('x-csrf-token', form.getAttribute('data-csrf'));
      xhr.setRequestHeader('content-type', 'application/octet-stream');
      xhr.upload.addEventListener('progress', function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(e.loaded / e.total * 100);
          status.textContent = ' ' + bar.value + '%';
        }
      });
      xhr.addEventListener('load', function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (ignored) { body = null; }
        if (xhr.status === 201 && body && body.id) {
          bar.value = 100;
          status.textContent = ' ' + form.getAttribute('data-done') + ' ';
          var link = document.createElement('a');
          link.href = '/submissions/' + body.id;
          link.textContent = body.id;
          link.setAttribute('data-testid', 'receipt-link');
          status.appendChild(link);
          item.className = 'ok';
          resolve(body.id);
        } else {
          var message = body && body.error ? body.error.message : String(xhr.status);
          status.textContent = ' ' + form.getAttribute('data-failed') + ': ' + message;
          item.className = 'error';
          resolve(null);
        }
      });
      xhr.addEventListener('error', function () {
        status.textContent = ' ' + form.getAttribute('data-failed');
        item.className = 'error';
        resolve(null);
      });
      xhr.send(file);
    });
  }

  // The same content sent to the same receivers while the first is still within its retention
  // period: asked before sending it again (the command line does the same).
  function sha256Hex(file) {
    return file.arrayBuffer()
      .then(function (bytes) { return crypto.subtle.digest('SHA-256', bytes); })
      .then(function (hash) {
        return Array.prototype.map.call(new Uint8Array(hash), function (b) {
          return ('0' + b.toString(16)).slice(-2);
        }).join('');
      });
  }

  function sentBefore(file, to) {
    if (!window.crypto || !crypto.subtle || file.size > 512 * 1024 * 1024) { return Promise.resolve(null); }
    return sha256Hex(file)
      .then(function (hex) { return fetch('/api/v1/submissions?limit=100&sha256=' + hex, { credentials: 'same-origin' }); })
      .then(function (response) { return response.ok ? response.json() : { items: [] }; })
      .then(function (page) {
        var now = Date.now();
        var found = null;
        page.items.forEach(function (s) {
          var pending = s.state === 'received' || s.state === 'converting';
          var sameRoute = to
            ? !s.conversion && s.deliveries.some(function (d) { return d.receiver.code === to; })
            : Boolean(s.conversion) || pending;
          var live = s.deliveries.some(function (d) {
            return Date.parse(d.expires_at) > now && d.state !== 'expired' && d.state !== 'withdrawn';
          });
          if (!found && sameRoute && (pending || live)) { found = s; }
        });
        return found;
      })
      .catch(function () { return null; });
  }

  function skipped(file) {
    var item = document.createElement('li');
    item.className = 'error';
    item.setAttribute('data-testid', 'upload-skipped');
    item.textContent = file.name + ' ' + form.getAttribute('data-skipped');
    list.appendChild(item);
    return null;
  }

  function sendUnlessRefused(file, to) {
    return sentBefore(file, to).then(function (earlier) {
      if (earlier) {
        var question = form.getAttribute('data-duplicate')
          .replace('{name}', earlier.filename)
          .replace('{date}', new Date(earlier.received_at).toLocaleString());
        if (!window.confirm(question)) { return skipped(file); }
      }
      return send(file, to);
    });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var choice = document.getElementById('to').value;
    // ':convert' (no organisation code has a colon): converted and routed by 保険者番号.
    var to = choice === ':convert' ? '' : choice;
    var files = Array.prototype.slice.call(input.files);
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    files.reduce(function (chain, file) {
      return chain.then(function (ids) { return sendUnlessRefused(file, to).then(function (id) { ids.push(id); return ids; }); });
    }, Promise.resolve([])).then(function (ids) {
      button.disabled = false;
      if (ids.length === 1 && ids[0]) {
        setTimeout(function () { window.location.assign('/submissions/' + ids[0]); }, 800);
      }
    });
  });

})();

// Passkeys, on the login and account pages (a script of their own: the upload part above
// ends early on pages without an upload form).
(function () {
  // Passkeys (WebAuthn): the server's options hold binary fields as base64url; the browser's
  // answer goes back the same way, in a hidden field of the form it belongs to.
  function fromB64u(text) {
    var s = text.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var bin = atob(s);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return bytes.buffer;
  }
  function toB64u(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var s = '';
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function showError(element, text) {
    if (element) { element.textContent = text; element.hidden = false; }
  }

  var passkeyLogin = document.getElementById('passkey-login');
  if (passkeyLogin && window.PublicKeyCredential) {
    passkeyLogin.addEventListener('click', function () {
      var form = passkeyLogin.form;
      var error = document.getElementById('passkey-error');
      if (error) { error.hidden = true; }
      if (!form.login.value || !form.password.value) { showError(error, passkeyLogin.dataset.need); return; }
      fetch('/login/passkey', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ _csrf: form._csrf.value, login: form.login.value })
      }).then(function (response) {
        if (!response.ok) { throw new Error('options'); }
        return response.json();
      }).then(function (answer) {
        var options = answer.options.publicKey;
        options.challenge = fromB64u(options.challenge);
        (options.allowCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
        return navigator.credentials.get({ publicKey: options }).then(function (credential) {
          var r = credential.response;
          form.passkey.value = JSON.stringify({
            id: credential.id, rawId: toB64u(credential.rawId), type: credential.type,
            response: {
              authenticatorData: toB64u(r.authenticatorData), clientDataJSON: toB64u(r.clientDataJSON),
              signature: toB64u(r.signature), userHandle: toB64u(r.userHandle)
            },
            extensions: credential.getClientExtensionResults()
          });
          form.passkey_ceremony.value = answer.ceremony;
          form.submit();
        });
      }).catch(function () { showError(error, passkeyLogin.dataset.failed); });
    });
  }

  var passkeyRegister = document.getElementById('passkey-register');
  if (passkeyRegister) {
    passkeyRegister.addEventListener('submit', function (event) {
      if (passkeyRegister.credential.value) { return; }
      event.preventDefault();
      var error = document.getElementById('passkey-register-error');
      if (error) { error.hidden = true; }
      if (!window.PublicKeyCredential) { showError(error, passkeyRegister.dataset.failed); return; }
      fetch('/account/passkeys/options', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'x-csrf-token': passkeyRegister._csrf.value }
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw { server: body.error }; }
          return body;
        });
      }).then(function (answer) {
        var options = answer.publicKey;
        options.challenge = fromB64u(options.challenge);
        options.user.id = fromB64u(options.user.id);
        (options.excludeCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
        return navigator.credentials.create({ publicKey: options });
      }).then(function (credential) {
        var r = credential.response;
        passkeyRegister.credential.value = JSON.stringify({
          id: credential.id, rawId: toB64u(credential.rawId), type: credential.type,
          response: {
            attestationObject: toB64u(r.attestationObject), clientDataJSON: toB64u(r.clientDataJSON),
            transports: r.getTransports ? r.getTransports() : undefined
          },
          extensions: credential.getClientExtensionResults()
        });
        passkeyRegister.submit();
      }).catch(function (e) {
        showError(error, (e && e.server) ? e.server : passkeyRegister.dataset.failed);
      });
    });
  }
})();
