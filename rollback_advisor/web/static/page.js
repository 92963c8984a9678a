// "Copy for Slack": the only script of the pages, and optional: the text area beside the
// button holds the same text for anyone without JavaScript or clipboard access.
(function () {
  var button = document.getElementById("copy-slack");
  var text = document.getElementById("slack-text");
  var said = document.getElementById("copied");
  if (!button || !text) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    var done = function () { said.textContent = "Copied: paste it into the channel."; };
    var fallback = function () {
      text.focus();
      text.select();
      try { document.execCommand("copy"); done(); }
      catch (e) { said.textContent = "Select the text and copy it."; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text.value).then(done, fallback);
    } else {
      fallback();
    }
  });
})();
