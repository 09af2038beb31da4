// The live queue. Every 5 seconds it asks a few numbers (/queue/summary); only when they changed,
// or every 30 seconds for the clocks, it fetches its rows again (server-rendered, so escaped like
// the page). A case that arrived since the operator last marked the queue seen is highlighted and
// counted in the tab's title, with a sound and a desktop notification when they were asked for.
(function () {
  const live = document.getElementById("queue-live");
  const announce = document.getElementById("announce");
  if (!live || !announce) return;
  const stamp = document.getElementById("refreshed");
  const arrived = document.getElementById("arrived");
  const seenButton = document.getElementById("seen");
  const sound = document.getElementById("sound");
  const notify = document.getElementById("notify");
  const title = document.title;
  let seen = Number(announce.dataset.newest) || 0; // cases up to this id have been seen
  let last = JSON.parse(announce.dataset.totals); // the last summary: the page's own at first
  let fetched = Date.now();
  let audio = null;

  sound.checked = localStorage.getItem("msaada.sound") === "on";
  sound.addEventListener("change", () => {
    localStorage.setItem("msaada.sound", sound.checked ? "on" : "off");
    if (sound.checked) beep(); // also unlocks audio: browsers allow it after a click
  });
  if ("Notification" in window && Notification.permission === "default") {
    notify.hidden = false;
    notify.addEventListener("click", () => Notification.requestPermission().then(() => { notify.hidden = true; }));
  }
  seenButton.addEventListener("click", () => {
    if (last) seen = last.newest;
    mark(0);
    live.querySelectorAll("tr.new").forEach((row) => row.classList.remove("new"));
  });

  function beep() {
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.6);
    } catch (error) { /* no audio on this machine: the title and the highlight still say it */ }
  }

  function mark(count) {
    document.title = count ? `(${count} new) ${title}` : title;
    arrived.textContent = count ? `${count} new case${count === 1 ? "" : "s"} since you last looked` : "";
    seenButton.hidden = !count;
  }

  function highlight() {
    live.querySelectorAll("tr[data-id]").forEach((row) => {
      if (Number(row.dataset.id) > seen) row.classList.add("new");
    });
  }

  async function rows() {
    const response = await fetch(live.dataset.src, {credentials: "same-origin"});
    if (response.redirected || !response.ok) throw new Error(String(response.status));
    // What the operator ticked for "Acknowledge selected" stays ticked across a refresh.
    const ticked = new Set(Array.from(live.querySelectorAll("input[name=reference]:checked"), (box) => box.value));
    live.innerHTML = await response.text();
    live.querySelectorAll("input[name=reference]").forEach((box) => { box.checked = ticked.has(box.value); });
    fetched = Date.now();
    highlight();
  }

  async function poll() {
    try {
      const url = new URL(announce.dataset.summary, location.href);
      url.searchParams.set("after", String(seen));
      const response = await fetch(url, {credentials: "same-origin"});
      if (response.redirected || !response.ok) throw new Error(String(response.status));
      const now = await response.json();
      const changed = ["total", "overdue", "waiting", "levels", "newest"].some((k) => now[k] !== last[k]);
      const fresh = now.newest > last.newest;
      if (changed || Date.now() - fetched > 30000) await rows();
      if (fresh) {
        if (sound.checked) beep();
        if ("Notification" in window && Notification.permission === "granted") {
          new Notification("Msaada: a new case", {body: `${now.arrived} new since you last looked`, tag: "msaada-queue"});
        }
      }
      last = now;
      mark(now.arrived);
      stamp.textContent = "updated " + new Date().toLocaleTimeString([], {hour12: false});
    } catch (error) {
      stamp.textContent = "could not refresh (" + error.message + "), retrying";
    }
  }

  setInterval(poll, 5000);
})();
