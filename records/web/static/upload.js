// Upload progress: the form works without this; with it, a progress bar while the files go up.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var input = document.getElementById("files");
  var box = document.getElementById("progress");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("progress-text");
  ["dragenter", "dragover"].forEach(function (name) {
    input.addEventListener(name, function () { input.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    input.addEventListener(name, function () { input.classList.remove("over"); });
  });
  form.addEventListener("submit", function (event) {
    if (!input.files || input.files.length === 0) { return; }
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    box.hidden = false;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var pct = Math.round((e.loaded / e.total) * 100);
        bar.value = pct;
        text.textContent = pct < 100 ? pct + "% sent" : "Sent; reading and filing the files\u2026";
      }
    });
    request.addEventListener("load", function () {
      // The server answers with the same page, outcome included: show it.
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", function () {
      text.textContent = "The upload failed (network). Try again, or submit without JavaScript.";
    });
    request.send(new FormData(form));
  });
})();
