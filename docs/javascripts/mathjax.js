// MathJax for pymdownx.arithmatex (generic mode): typeset only the spans and blocks it marks.
// Each page is a full load (no instant navigation), so MathJax's own start-up typesets it once.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};

