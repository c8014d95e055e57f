// The Web App's entry: hand Telegram's signed initData to the server, which checks it.
(function () {
  "use strict";
  var app = window.Telegram && window.Telegram.WebApp;
  var form = document.getElementById("telegram-sign-in");
  if (!app || !form || !app.initData) {
    return;
  }
  app.ready();
  form.elements.initData.value = app.initData;
  form.submit();
})();
