// The callback page: show the address exactly as the browser sees it (behind a proxy the
// server cannot know it), copy it on request, and count down the code's life from its issue
// (the server says how much of it is left when the page is served).
(function () {
  var box = document.getElementById("redirect-url");
  var button = document.getElementById("copy");
  var status = document.getElementById("copied");
  if (!box) return;
  box.value = window.location.href;
  button.addEventListener("click", function () {
    box.select();
    var done = function () { status.textContent = "Copied. Paste it into the notebook."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(box.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  var countdown = document.getElementById("countdown");
  var lifetime = parseInt(box.getAttribute("data-code-lifetime"), 10);
  var remaining = parseInt(box.getAttribute("data-expires-in"), 10);
  if (!countdown || !lifetime) return;
  var known = !isNaN(remaining);
  var served = Date.now();
  var tick = function () {
    var left = Math.ceil((known ? remaining : lifetime) - (Date.now() - served) / 1000);
    var unit = left === 1 ? " second" : " seconds";
    countdown.textContent = left > 0
      ? (known ? "The code expires in " : "The code expires in at most ") + left + unit +
        " (it is valid for " + lifetime + " seconds from its issue)."
      : "The code has expired: exchanging it now fails with invalid_grant. Open the authorize link again.";
    countdown.className = left > 0 ? "note" : "note error-card";
    if (left > 0) setTimeout(tick, 1000);
  };
  tick();
})();
