// Keeps every "12 min ago" on the page current (dashboard/times.py writes them).
(function () {
  function ago(seconds) {
    if (seconds < 0) return "just now"; // another machine's clock
    if (seconds < 45) return "just now";
    if (seconds < 3600) return `${Math.max(Math.floor(seconds / 60), 1)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor(seconds % 3600 / 60)} min ago`;
    return seconds >= 172800 ? `${Math.floor(seconds / 86400)} days ago` : "1 day ago";
  }
  function tick() {
    document.querySelectorAll("time[datetime] .ago").forEach((span) => {
      span.textContent = ago((Date.now() - Date.parse(span.parentElement.getAttribute("datetime"))) / 1000);
    });
  }
  setInterval(tick, 20000);
})();
