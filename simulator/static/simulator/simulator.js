// The phone simulator. It talks only to /simulator/*, which builds each provider's request and
// hands it to the real webhook; replies that a provider would deliver later are read back from
// the outbox. Text from the server is always set with textContent, never parsed as HTML.
"use strict";

(function () {
  const POLL_MS = 2000;
  const BASE = document.body.dataset.base; // "/simulator/"
  const $ = (id) => document.getElementById(id);

  const ui = {
    phone: $("phone-number"), mode: $("mode"), title: $("handset-title"),
    ussdPanel: $("ussd-panel"), chatPanel: $("chat-panel"), code: $("dial-code"), dial: $("dial"),
    screen: $("screen"), thread: $("thread"), locationBar: $("location-bar"),
    latitude: $("latitude"), longitude: $("longitude"), shareLocation: $("share-location"),
    composer: $("composer"), input: $("input"), send: $("send"), cancel: $("cancel"),
    status: $("phone-status"), inbox: $("inbox"), inboxBox: $("inbox-box"), inboxCount: $("inbox-count"),
    lastRequest: $("last-request"), outbox: $("outbox"),
    officerForm: $("officer-form"), officerPhone: $("officer-phone"), officerText: $("officer-text"),
    officerStatus: $("officer-status"),
  };

  const state = {
    mode: "ussd",
    ussd: null, // while a USSD session is open: {phone, sessionId, code, inputs, lastScreen}
    thread: [], // this number's messages, both ways, in the order they happened
    busy: false,
  };

  // --- small helpers ---------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function call(method, path, body) {
    const options = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(BASE + path, options);
      let data = {};
      try {
        data = await response.json();
      } catch (e) {
        data = { error: `HTTP ${response.status}` };
      }
      return { ok: response.ok, status: response.status, data };
    } catch (e) {
      return { ok: false, status: 0, data: { error: "Msaada is not answering" } };
    }
  }

  function say(text, kind) {
    ui.status.textContent = text || "";
    ui.status.dataset.state = kind || "info";
  }

  function showRequest(request) {
    if (request) ui.lastRequest.textContent = `POST ${request.path}\n` + JSON.stringify(request.form, null, 2);
  }

  function phone() {
    return ui.phone.value.trim();
  }

  function time(iso) {
    const date = iso ? new Date(iso) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // --- modes -----------------------------------------------------------------------------------

  function setMode(mode) {
    if (state.ussd && mode !== "ussd") endUssd("Incomplete"); // leaving the USSD popup ends the session
    state.mode = mode;
    ui.mode.value = mode;
    ui.title.textContent = { ussd: "USSD", sms: "Messages (SMS)", whatsapp: "WhatsApp" }[mode];
    ui.ussdPanel.hidden = mode !== "ussd";
    ui.chatPanel.hidden = mode === "ussd";
    ui.locationBar.hidden = mode !== "whatsapp";
    ui.cancel.hidden = mode !== "ussd";
    ui.inboxBox.hidden = mode === "sms";
    ui.input.placeholder = mode === "ussd" ? "Your answer" : "Message";
    document.body.dataset.mode = mode;
    say("");
    renderThread();
  }

  function changePhone() {
    if (state.ussd) endUssd("Incomplete");
    state.thread = [];
    feed.reset();
    renderThread();
    say("");
    feed.poll();
  }

  // --- USSD ------------------------------------------------------------------------------------

  function showScreen(text, screenState, reference) {
    ui.screen.textContent = text;
    ui.screen.dataset.state = screenState;
    if (reference) ui.screen.dataset.reference = reference;
    else delete ui.screen.dataset.reference;
  }

  async function dial() {
    if (state.ussd) await endUssd("Incomplete");
    const code = ui.code.value.trim();
    await ussdRequest({ phone: phone(), code, inputs: [] }, code);
  }

  async function answerUssd(value) {
    if (!state.ussd) {
      if (/^\*[0-9*]+#$/.test(value)) { // typed a code into the answer box: dial it
        ui.code.value = value;
        return dial();
      }
      say("Dial a code first, e.g. " + ui.code.defaultValue, "error");
      return;
    }
    const session = state.ussd;
    await ussdRequest({ phone: session.phone, code: session.code, session_id: session.sessionId,
                        inputs: session.inputs.concat([value]) }, session.code);
  }

  async function ussdRequest(body, code) {
    showScreen("USSD code running…", "waiting");
    const result = await call("POST", "ussd", body);
    if (!result.ok) {
      if (state.ussd) { // the session stays where it was
        showScreen(state.ussd.lastScreen, "open");
      } else {
        showScreen("Connection problem or invalid MMI code.", "error");
      }
      say(result.data.error, "error");
      return;
    }
    const data = result.data;
    showRequest(data.request);
    say("");
    refreshOutbox(); // an SOS writes its alerts before the webhook answers
    if (data.end) {
      state.ussd = null;
      showScreen(data.screen, "ended", data.reference);
    } else {
      state.ussd = { phone: body.phone, sessionId: data.session_id, code, inputs: body.inputs,
                     lastScreen: data.screen };
      showScreen(data.screen, "open", data.reference);
    }
  }

  async function endUssd(status) {
    const session = state.ussd;
    state.ussd = null;
    if (!session) {
      showScreen("Dial " + ui.code.defaultValue + " to start.", "idle");
      return;
    }
    showScreen("Session ended.", "ended");
    const result = await call("POST", "ussd/end", { phone: session.phone, session_id: session.sessionId,
      code: session.code, inputs: session.inputs, status, last_screen: session.lastScreen });
    if (!result.ok) {
      say(result.data.error, "error");
      return;
    }
    showRequest(result.data.request);
    refreshOutbox();
    if (result.data.reference && state.mode === "ussd" && !state.ussd) {
      showScreen("Session ended. The SOS you began was still recorded: case " + result.data.reference + ".",
                 "ended", result.data.reference);
    }
  }

  // --- SMS and WhatsApp ------------------------------------------------------------------------

  function channelOf(mode) {
    return mode === "whatsapp" ? "whatsapp" : "sms";
  }

  function sameChannel(message, channel) {
    return channel === "whatsapp" ? message.channel.startsWith("whatsapp") : message.channel === "sms";
  }

  function addToThread(message) {
    if (message.id && state.thread.some((m) => m.id === message.id)) return;
    state.thread.push(message);
    renderThread();
  }

  function bubble(message) {
    const item = el("li", {
      class: `message ${message.direction}`, "data-testid": "message", "data-direction": message.direction,
      "data-channel": message.channel, "data-id": message.id || null, "data-reference": message.reference || null,
    });
    item.append(el("div", { class: "body" }, message.body));
    const meta = [time(message.at)];
    if (message.purpose) meta.push(message.purpose);
    if (message.channel === "whatsapp_template") meta.push("template");
    item.append(el("small", { class: "meta" }, meta.join(" · ")));
    return item;
  }

  function renderThread() {
    const channel = channelOf(state.mode);
    ui.thread.replaceChildren(...state.thread.filter((m) => sameChannel(m, channel)).map(bubble));
    ui.thread.scrollTop = ui.thread.scrollHeight;
    const sms = state.thread.filter((m) => m.direction === "received" && m.channel === "sms");
    ui.inbox.replaceChildren(...sms.map(bubble));
    ui.inboxCount.textContent = String(sms.length);
  }

  async function sendChat(body) {
    const mode = state.mode;
    const shown = body.text !== undefined ? body.text
      : `Location: ${body.latitude}, ${body.longitude}`;
    const request = Object.assign({ phone: phone() }, body);
    const result = await call("POST", mode, request);
    if (!result.ok) {
      say(result.data.error, "error");
      return false;
    }
    say("");
    showRequest(result.data.request);
    addToThread({ direction: "sent", channel: channelOf(mode), body: shown, at: null });
    if (mode === "whatsapp" && result.data.reply) {
      // Twilio answers in the webhook's response (TwiML); AT's replies arrive through the outbox.
      addToThread({ direction: "received", channel: "whatsapp", body: result.data.reply,
                    reference: result.data.reference, at: null });
    }
    feed.poll();
    refreshOutbox();
    return true;
  }

  // Outbox rows to this number: SMS replies and notices, WhatsApp notices.
  function makeFeed(currentPhone, onMessages) {
    let sinceId = 0;
    let polledPhone = null;
    return {
      reset() { sinceId = 0; polledPhone = null; },
      async poll() {
        const number = currentPhone();
        if (!number) return;
        if (number !== polledPhone) { polledPhone = number; sinceId = 0; }
        const result = await call("GET", `messages?phone=${encodeURIComponent(number)}&since_id=${sinceId}`);
        if (!result.ok || number !== polledPhone) return; // the number changed while we asked
        for (const row of result.data.messages) sinceId = Math.max(sinceId, row.id);
        onMessages(result.data.messages);
      },
    };
  }

  const feed = makeFeed(phone, (rows) => {
    for (const row of rows) {
      addToThread({ id: row.id, direction: "received", channel: row.channel, body: row.body,
                    reference: row.reference, purpose: row.purpose, at: row.created_at });
    }
  });

  // --- the outbox and the officer --------------------------------------------------------------

  let lastOutbox = "";

  function directoryNumbers() {
    return new Set(Array.from(ui.officerPhone.options, (o) => o.value));
  }

  function outboxRow(message, officers) {
    const row = el("tr", {
      "data-testid": "outbox-row", "data-id": message.id, "data-recipient": message.recipient,
      "data-purpose": message.purpose, "data-status": message.status, "data-channel": message.channel,
      "data-level": message.level, "data-reference": message.reference || null,
    });
    const to = el("td", { class: "to" });
    to.append(el("span", { class: "number" }, message.recipient));
    if (message.who) to.append(el("small", { class: "who" }, message.who));
    const status = el("td", { class: `state ${message.status}` }, message.status);
    if (message.provider) status.append(el("small", {}, message.provider));
    if (message.error) status.title = message.error;
    const action = el("td");
    if (message.reference && message.purpose !== "reply" && officers.has(message.recipient)) {
      const button = el("button", { type: "button", class: "reply-as-officer", "data-testid": "reply-as-officer" },
                        "Reply as officer");
      button.addEventListener("click", () => {
        ui.officerPhone.value = message.recipient;
        ui.officerText.value = "ACK " + message.reference;
        ui.officerText.focus();
      });
      action.append(button);
    }
    row.append(el("td", {}, message.id), to, el("td", {}, message.purpose),
               el("td", {}, message.level === null ? "" : message.level), status,
               el("td", { class: "reference" }, message.reference || ""),
               el("td", { class: "body" }, message.body), action);
    return row;
  }

  async function refreshOutbox() {
    const result = await call("GET", "outbox?limit=100");
    if (!result.ok) return;
    const fingerprint = JSON.stringify(result.data.messages);
    if (fingerprint === lastOutbox) return; // nothing changed: keep the rows (and any focus) as they are
    lastOutbox = fingerprint;
    const officers = directoryNumbers();
    ui.outbox.replaceChildren(...result.data.messages.map((m) => outboxRow(m, officers)));
  }

  async function sendAsOfficer(event) {
    event.preventDefault();
    const text = ui.officerText.value.trim();
    if (!text) {
      ui.officerStatus.textContent = "Type a command, e.g. ACK KE-XXXXX";
      ui.officerStatus.dataset.state = "error";
      return;
    }
    const number = ui.officerPhone.value;
    const result = await call("POST", "sms", { phone: number, text });
    if (!result.ok) {
      ui.officerStatus.textContent = result.data.error;
      ui.officerStatus.dataset.state = "error";
      return;
    }
    showRequest(result.data.request);
    ui.officerStatus.textContent = `Sent “${text}” from ${number}. Msaada's answer appears in the outbox.`;
    ui.officerStatus.dataset.state = "sent";
    ui.officerText.value = "";
    refreshOutbox();
  }

  // --- wiring ----------------------------------------------------------------------------------

  async function submit(event) {
    event.preventDefault();
    if (state.busy) return;
    const value = ui.input.value;
    if (state.mode !== "ussd" && !value.trim()) return;
    state.busy = true;
    ui.send.disabled = true;
    try {
      if (state.mode === "ussd") await answerUssd(value.trim());
      else await sendChat({ text: value });
      ui.input.value = "";
    } finally {
      state.busy = false;
      ui.send.disabled = false;
      ui.input.focus();
    }
  }

  function repeat(task) {
    const run = async () => {
      try { await task(); } finally { setTimeout(run, POLL_MS); }
    };
    run();
  }

  ui.mode.addEventListener("change", () => setMode(ui.mode.value));
  ui.phone.addEventListener("change", changePhone);
  ui.dial.addEventListener("click", dial);
  ui.code.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); dial(); } });
  ui.composer.addEventListener("submit", submit);
  ui.cancel.addEventListener("click", () => endUssd("Incomplete"));
  ui.shareLocation.addEventListener("click", () =>
    sendChat({ latitude: ui.latitude.value.trim(), longitude: ui.longitude.value.trim() }));
  ui.officerForm.addEventListener("submit", sendAsOfficer);

  setMode(ui.mode.value);
  repeat(() => feed.poll());
  repeat(refreshOutbox);
})();
