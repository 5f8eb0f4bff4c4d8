// response_mode=form_post: post the authorization response to the app at once, as Okta's page
// does. Without scripts, the page's button does the same.
(function () {
  var form = document.getElementById("form-post");
  if (form) form.submit();
})();
