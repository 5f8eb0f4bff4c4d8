// The callback page: show the address exactly as the browser sees it (behind a proxy the
// server cannot know it), copy it on request, and count down the code's 60 seconds.
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
  if (!countdown || !lifetime) return;
  var arrived = Date.now();
  var tick = function () {
    var left = Math.ceil(lifetime - (Date.now() - arrived) / 1000);
    countdown.textContent = left > 0
      ? "The code expires in about " + left + " s (it is valid for " + lifetime + " s from its arrival)."
      : "The code has most likely expired: exchanging it now fails with invalid_grant. Open the authorize link again.";
    if (left > 0) setTimeout(tick, 1000);
  };
  tick();
})();
