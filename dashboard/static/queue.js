// Refresh the queue's rows every 10 seconds (server-rendered, so escaped like the page).
(function () {
  const rows = document.getElementById("queue-rows");
  const stamp = document.getElementById("refreshed");
  async function refresh() {
    try {
      const response = await fetch(rows.dataset.src, {credentials: "same-origin"});
      if (response.redirected || !response.ok) throw new Error(String(response.status));
      rows.innerHTML = await response.text();
      stamp.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (error) {
      stamp.textContent = "could not refresh (" + error.message + "), retrying";
    }
  }
  setInterval(refresh, 10000);
})();
