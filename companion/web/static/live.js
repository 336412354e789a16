// The run page's live view: follows the session through server-sent events and sends the
// buttons without leaving the page. Without this script the page still works: every button
// is a form that posts and comes back, and "Refresh" shows what happened since.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const runId = live.dataset.run;
  const speed = parseFloat(live.dataset.speed) || 1;
  const transcript = document.getElementById("transcript");
  const step = document.getElementById("step");
  const left = document.getElementById("left");
  const state = document.getElementById("state");
  const asked = document.getElementById("asked");
  const problem = document.getElementById("command-problem");
  const controls = document.getElementById("controls-area");
  const after = document.getElementById("after-area");
  let remaining = live.dataset.left === "" ? null : parseFloat(live.dataset.left);
  let paused = live.dataset.paused === "1";
  let finished = live.dataset.finished === "1";

  function clock(seconds) {
    if (seconds === null || isNaN(seconds)) return "\u2013";
    const s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function stickToBottom(fn) {
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    fn();
    if (atBottom) transcript.scrollTop = transcript.scrollHeight;
  }

  function showStatus(s) {
    step.textContent = s.step || "starting";
    remaining = s.left;
    paused = s.paused;
    left.textContent = clock(remaining);
    if (state.textContent !== s.state) state.textContent = s.state;
    asked.textContent = s.asked;
    asked.hidden = !s.asked;
    const focused = document.activeElement;
    let lostFocus = false;
    for (const form of document.querySelectorAll("form.answer")) {
      const hide = form.dataset.context !== s.context;
      if (hide && !form.hidden && form.contains(focused)) lostFocus = true;
      form.hidden = hide;
    }
    if (lostFocus) {
      // The question was answered: keep the keyboard near the answers, never lost on the page.
      const next = document.querySelector("form.answer:not([hidden]) button") || document.getElementById("say");
      next.focus();
    }
    if (s.finished) {
      finished = true;
      const hadFocus = controls.contains(document.activeElement);
      controls.hidden = true;
      after.hidden = false;
      if (hadFocus) document.getElementById("again-h").focus();
    }
  }

  transcript.scrollTop = transcript.scrollHeight;
  if (finished) return;

  const source = new EventSource("/run/events?run=" + encodeURIComponent(runId) + "&after=" +
                                 encodeURIComponent(live.dataset.after));
  source.addEventListener("line", function (event) {
    const item = JSON.parse(event.data);
    stickToBottom(function () {
      const li = document.createElement("li");
      li.className = "who-" + item.who;
      li.textContent = item.text;
      transcript.appendChild(li);
    });
  });
  source.addEventListener("status", function (event) { showStatus(JSON.parse(event.data)); });
  source.addEventListener("end", function () { source.close(); });
  source.addEventListener("replaced", function () { source.close(); window.location.reload(); });

  const ticker = window.setInterval(function () {
    if (finished) { window.clearInterval(ticker); return; }
    if (!paused && remaining !== null) {
      remaining = Math.max(0, remaining - speed);
      left.textContent = clock(remaining);
    }
  }, 1000);

  for (const form of document.querySelectorAll("form.command")) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const body = new URLSearchParams(new FormData(form, event.submitter));
      problem.hidden = true;
      fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                          headers: {"Accept": "application/json"}})
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (!answer.ok) { problem.textContent = answer.problem; problem.hidden = false; }
          else if (form.classList.contains("typed")) { form.reset(); }
        })
        .catch(function () {
          problem.textContent = "The companion did not answer. Is it still running? Try again.";
          problem.hidden = false;
        });
    });
  }
})();
