/* The agent's desk: state buttons, the screen pop, the work order (autosaved, kept in the browser until the
   server has it), the live transcript, recent calls and open work orders. Every change arrives as a full
   snapshot of the desk, from the websocket or as the answer to a request; the form is the one thing the
   snapshot does not overwrite once the agent has started on it. */
"use strict";

(() => {
  const { post, live, byId, text, rows, duration, clock } = Console;
  const form = byId("ticket-form");
  const FIELDS = ["legal_area", "service", "facts", "answer", "disposition", "referral"];
  let desk = JSON.parse(byId("desk-data").textContent);
  let formTicket = null; // the work order the form holds
  let saveTimer = null;
  let saving = false;
  let shownNumberFor = null; // the call whose full number is on screen
  let ringer = null;
  const STATUS = { new: "新建", in_progress: "办理中", answered: "已答复", referred: "已转介", closed: "已办结", reopened: "重新办理" };
  const KIND = { legal_area: "法律领域", service: "服务类型", flag: "标记", risk: "风险" };

  /* ---- the work order kept locally until saved ---- */
  const localKey = (number) => "ticket:" + number;
  function readForm() {
    const data = {};
    for (const name of FIELDS) data[name] = form.elements[name].value || null;
    data.facts = data.facts || "";
    data.answer = data.answer || "";
    data.flags = [...form.querySelectorAll('input[name="flags"]:checked')].map((el) => el.value);
    return data;
  }
  function writeForm(data) {
    for (const name of FIELDS) form.elements[name].value = data[name] || "";
    const flags = new Set(data.flags || []);
    for (const box of form.querySelectorAll('input[name="flags"]')) box.checked = flags.has(box.value);
  }
  function keepLocally(number, data) {
    try {
      localStorage.setItem(localKey(number), JSON.stringify({ at: Date.now(), data }));
    } catch (e) {
      /* private mode: the server copy is all there is */
    }
  }
  function localCopy(number) {
    try {
      return JSON.parse(localStorage.getItem(localKey(number)) || "null");
    } catch (e) {
      return null;
    }
  }
  function forget(number) {
    try {
      localStorage.removeItem(localKey(number));
    } catch (e) {
      /* nothing kept */
    }
  }

  function fieldErrors(fields) {
    for (const el of form.parentElement.querySelectorAll(".field-error")) {
      el.textContent = (fields && fields[el.dataset.for]) || "";
    }
  }

  async function saveNow() {
    if (!formTicket || saving) return;
    const number = formTicket;
    const copy = localCopy(number);
    if (!copy) return;
    saving = true;
    try {
      const answer = await post("/agent/tickets/" + encodeURIComponent(number) + "/draft", copy.data);
      const latest = localCopy(number);
      if (latest && latest.at === copy.at) forget(number); // nothing typed meanwhile
      fieldErrors({});
      text("ticket-error", "");
      byId("saved").textContent = "已保存 " + clock(answer.saved_at);
      byId("saved").dataset.state = "saved";
    } catch (err) {
      if (err.status === 422) {
        fieldErrors(err.fields);
        byId("saved").textContent = "未保存：请更正标红的项目";
      } else if (err.status === 409 || err.status === 403 || err.status === 404) {
        forget(number);
        byId("ticket-error").textContent = err.message;
      } else {
        byId("saved").textContent = "未保存（" + err.message + "），内容已暂存在本机，恢复后自动重发";
      }
      byId("saved").dataset.state = "pending";
    } finally {
      saving = false;
    }
    const again = localCopy(number);
    if (again && again.at !== copy.at) schedule(); // typed while saving
  }
  function schedule() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveNow, 600);
  }
  function edited() {
    if (!formTicket) return;
    keepLocally(formTicket, readForm());
    byId("saved").textContent = "正在保存…";
    byId("saved").dataset.state = "pending";
    schedule();
  }
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);
  window.addEventListener("online", saveNow);
  setInterval(() => {
    if (formTicket && localCopy(formTicket)) saveNow();
  }, 5000);

  /* ---- ringing: a tone and the tab title while a call is offered ---- */
  function ring(on) {
    document.title = (on ? "【来电】" : "") + document.title.replace(/^【来电】/, "");
    if (on && !ringer) {
      try {
        const audio = new (window.AudioContext || window.webkitAudioContext)();
        const beep = () => {
          const tone = audio.createOscillator();
          const gain = audio.createGain();
          tone.frequency.value = 440;
          gain.gain.value = 0.1;
          tone.connect(gain).connect(audio.destination);
          tone.start();
          tone.stop(audio.currentTime + 0.4);
        };
        beep();
        ringer = { audio, timer: setInterval(beep, 2000) };
      } catch (e) {
        ringer = { audio: null, timer: null };
      }
    } else if (!on && ringer) {
      clearInterval(ringer.timer);
      if (ringer.audio) ringer.audio.close();
      ringer = null;
    }
  }

  /* ---- rendering the snapshot ---- */
  function renderState(agent) {
    const state = byId("state");
    state.textContent = agent.state_name;
    state.dataset.state = agent.state;
    byId("state-reason").textContent = agent.reason ? "（" + agent.reason + "）" : "";
    byId("state-since").textContent = "自 " + clock(agent.since);
    const busy = agent.state === "on_call" || agent.state === "reserved";
    byId("go-available").disabled = busy || agent.state === "available" || agent.state === "wrap_up";
    byId("go-paused").disabled = busy;
    byId("end-wrapup").hidden = agent.state !== "wrap_up";
    byId("go-logged-out").disabled = busy || agent.state === "logged_out";
  }

  function renderPop(call) {
    byId("pop").hidden = !call;
    if (!call) {
      ring(false);
      shownNumberFor = null;
      return;
    }
    const ringing = !call.answered && !call.ended && call.entry_state === "offered";
    ring(ringing);
    byId("pop-title").textContent = ringing ? "来电振铃中" : call.ended ? "来电（已结束）" : "来电（通话中）";
    if (shownNumberFor !== call.call_id) {
      shownNumberFor = null;
      text("pop-number", call.caller_masked);
    }
    byId("show-number").hidden = call.ended;
    text("pop-prefecture", [call.prefecture, call.county].filter(Boolean).join(" "));
    text("pop-language", call.language);
    text("pop-path", call.ivr_path.join(" → "));
    text("pop-digits", call.digits);
    text("pop-queue", call.queue);
    text("pop-waited", duration(call.waited_s));
    const flags = [...call.registry, ...call.flags];
    if (call.priority > 0) flags.unshift("优先");
    text("pop-flags", flags.join("、"));
    rows("pop-earlier", call.earlier, (e) => [e.at, e.outcome, e.ticket, e.legal_area], "（首次来电）");
  }

  function renderSuggestions(ticket) {
    for (const slot of form.querySelectorAll(".suggest")) {
      slot.replaceChildren();
      const best = (ticket.suggestions || []).find((s) => s.field === slot.dataset.field && s.status === "pending");
      if (!best) continue;
      const use = document.createElement("button");
      use.type = "button";
      use.className = "small";
      use.textContent = "建议：" + best.value;
      use.addEventListener("click", () => {
        form.elements[best.field].value = best.value;
        edited();
      });
      slot.append(use);
    }
  }

  function renderTicket(ticket) {
    byId("ticket").hidden = !ticket;
    if (!ticket) {
      formTicket = null;
      return;
    }
    text("ticket-number", ticket.number);
    byId("ticket-status").textContent = STATUS[ticket.status] || ticket.status;
    byId("ticket-deadline").textContent = ticket.deadline ? "办理期限 " + ticket.deadline : "";
    const closed = ticket.status === "closed";
    for (const el of form.elements) el.disabled = closed;
    if (formTicket !== ticket.number) {
      formTicket = ticket.number;
      const copy = localCopy(ticket.number);
      writeForm(ticket);
      if (copy) {
        writeForm(copy.data); // typed here and not yet on the server: it wins, and goes now
        byId("saved").textContent = "已恢复本机暂存的内容，正在保存…";
        saveNow();
      } else {
        byId("saved").textContent = "";
      }
      fieldErrors({});
    }
    renderSuggestions(ticket);
    rows("callbacks", ticket.callbacks || [], (b) => [b.at, b.reason, b.status, b.by], "（无）");
  }

  function renderLive(call, liveView) {
    byId("live").hidden = !call;
    if (!call) return;
    byId("live-status").textContent = liveView.transcription ? "" : "（实时转写未开启）";
    const channel = { caller: "来电人", agent: "坐席" };
    const list = byId("transcript");
    list.replaceChildren(
      ...liveView.transcript.map((line) => {
        const li = document.createElement("li");
        li.textContent = (channel[line.channel] || line.channel) + "：" + line.text;
        return li;
      })
    );
    byId("live-tags").replaceChildren(
      ...liveView.tags.map((tag) => {
        const li = document.createElement("li");
        li.textContent = (KIND[tag.kind] || tag.kind) + "：" + tag.value;
        return li;
      })
    );
  }

  function renderTransfer(targets) {
    byId("transfer-box").hidden = !targets;
    if (!targets) return;
    const select = byId("transfer-target");
    const kept = select.value;
    select.replaceChildren();
    const group = (label, items, kind, name) => {
      const box = document.createElement("optgroup");
      box.label = label;
      for (const item of items) {
        const option = document.createElement("option");
        option.value = kind + ":" + item[name];
        option.textContent = item.display_name + "（" + item[name] + "）";
        box.append(option);
      }
      if (items.length) select.append(box);
    };
    group("队列", targets.queues, "queue", "name");
    group("空闲坐席", targets.agents, "agent", "username");
    if ([...select.options].some((o) => o.value === kept)) select.value = kept;
  }

  function render(next) {
    desk = next;
    renderTransfer(desk.transfer_targets);
    renderState(desk.agent);
    renderPop(desk.call);
    renderTicket(desk.ticket);
    renderLive(desk.call, desk.live);
    rows("recent", desk.recent, (r) => [r.at, r.caller_masked, r.prefecture, r.outcome, r.ticket], "（暂无）");
    rows(
      "open-tickets",
      desk.open_tickets,
      (t) => [t.number, STATUS[t.status] || t.status, t.caller_masked, t.legal_area, (t.overdue ? "已超期 " : "") + (t.deadline || "")],
      "（暂无）"
    );
  }

  /* ---- actions ---- */
  async function act(errorId, request) {
    byId(errorId).textContent = "";
    try {
      const answer = await request();
      if (answer && answer.type === "desk") render(answer);
      return answer;
    } catch (err) {
      byId(errorId).textContent = err.message;
      if (err.status === 422 && errorId === "callback-error") {
        for (const [name, message] of Object.entries(err.fields)) {
          const slot = document.querySelector('.field-error[data-for="cb-' + name + '"]');
          if (slot) slot.textContent = message;
        }
      } else if (err.status === 422) fieldErrors(err.fields);
      return null;
    }
  }
  const setState = (state, reason) => act("state-error", () => post("/agent/state", { state, reason }));
  byId("go-available").addEventListener("click", () => setState("available"));
  byId("end-wrapup").addEventListener("click", () => setState("available"));
  byId("go-paused").addEventListener("click", () => setState("paused", byId("pause-reason").value));
  byId("go-logged-out").addEventListener("click", () => setState("logged_out"));

  byId("complete").addEventListener("click", async () => {
    if (!formTicket) return;
    const number = formTicket;
    clearTimeout(saveTimer);
    const data = readForm();
    keepLocally(number, data);
    const done = await act("ticket-error", () => post("/agent/tickets/" + encodeURIComponent(number) + "/complete", data));
    if (done) {
      forget(number);
      fieldErrors({});
      byId("saved").textContent = "工单已办结";
    }
  });
  for (const advice of ["110", "120"]) {
    byId("risk-" + advice).addEventListener("click", () => {
      if (!formTicket) return;
      act("ticket-error", () => post("/agent/tickets/" + encodeURIComponent(formTicket) + "/risk", { advice }));
    });
  }
  byId("callback-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!formTicket) return;
    for (const el of document.querySelectorAll('.field-error[data-for^="cb-"]')) el.textContent = "";
    const body = { at: byId("cb-at").value, reason: byId("cb-reason").value };
    const answer = await act("callback-error", () =>
      post("/agent/tickets/" + encodeURIComponent(formTicket) + "/callback", body)
    );
    if (answer) {
      byId("cb-reason").value = "";
    }
  });
  byId("transfer").addEventListener("click", () => {
    const value = byId("transfer-target").value;
    if (!value) return;
    const [kind, name] = [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)];
    act("transfer-error", () => post("/agent/transfer", { [kind]: name }));
  });
  byId("show-number").addEventListener("click", async () => {
    const answer = await act("state-error", () => post("/agent/number"));
    if (answer && answer.number) {
      shownNumberFor = answer.call_id;
      text("pop-number", answer.number);
    }
  });

  render(desk);
  live((message) => {
    if (message.type === "desk") render(message);
    else if (message.type === "error") byId("state-error").textContent = message.error;
  }, saveNow);
})();
