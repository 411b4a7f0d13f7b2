/* The supervisor's wallboard: every figure comes from the server (PostgreSQL), pushed on each change; the page
   only ticks the "in state" and "oldest wait" clocks between pushes. */
"use strict";

(() => {
  const { live, post, rows, duration, clock, byId } = Console;
  let board = JSON.parse(byId("board-data").textContent);
  let received = Date.now();

  function rate(value) {
    return value === null || value === undefined ? "—" : value + "%";
  }

  function callButton(row) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small callback";
    button.textContent = "回拨";
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        board = await post("/supervisor/abandoned/" + encodeURIComponent(row.call_id) + "/callback");
        received = Date.now();
        byId("board-error").textContent = "";
        render();
      } catch (err) {
        byId("board-error").textContent = err.message;
        button.disabled = false;
      }
    });
    return button;
  }

  function render() {
    const passed = (Date.now() - received) / 1000;
    rows(
      "queues",
      board.queues,
      (q) => [
        q.display_name || q.name,
        q.waiting,
        q.waiting ? duration(q.oldest_wait_s + passed) : "—",
        q.offered,
        q.answered,
        q.abandoned,
        rate(q.service_level),
        q.avg_wait_s === null ? "—" : duration(q.avg_wait_s),
        q.staffed,
        q.available,
        q.on_call,
        q.wrap_up,
        q.paused,
      ],
      "（未配置队列）"
    );
    rows(
      "agents",
      board.agents,
      (a) => {
        const state = document.createElement("span");
        state.className = "badge";
        state.dataset.state = a.state;
        state.textContent = a.state_name;
        return [a.display_name + "（" + a.username + "）", state, a.reason, duration(a.in_state_s + passed), a.calls_today, a.queues.join("、")];
      },
      "（无在岗坐席）"
    );
    rows(
      "abandoned",
      board.abandoned,
      (r) => [clock(r.at), r.caller_masked, r.prefecture, r.queue, r.callback_requested ? "已预约回拨" : callButton(r)],
      "（今日暂无）"
    );
  }

  /* The survey's follow-up work orders: loaded with the page, after each result, and with a wallboard push
     at most every 10 s (a new dissatisfied caller arrives with a call's changes). */
  let followUpsAt = 0;
  function resultCell(item) {
    if (item.result) return item.result;
    const box = document.createElement("span");
    const input = document.createElement("input");
    input.placeholder = "回访结果";
    input.maxLength = 1000;
    input.className = "follow-up-result";
    const save = document.createElement("button");
    save.type = "button";
    save.className = "small";
    save.textContent = "记录并办结";
    save.addEventListener("click", async () => {
      byId("follow-up-error").textContent = "";
      try {
        showFollowUps(await post("/supervisor/follow-ups/" + encodeURIComponent(item.number), { result: input.value }));
      } catch (err) {
        byId("follow-up-error").textContent = err.message;
      }
    });
    box.append(input, save);
    return box;
  }
  function showFollowUps(answer) {
    rows(
      "follow-ups",
      answer.follow_ups,
      (f) => [f.number, f.at, f.caller_masked, f.prefecture, f.handled_by, f.answers, resultCell(f)],
      "（暂无）"
    );
  }
  async function loadFollowUps() {
    followUpsAt = Date.now();
    const typing = [...document.querySelectorAll(".follow-up-result")].some((el) => el.value || el === document.activeElement);
    if (typing) return; // never wipe a result being written
    try {
      const answer = await fetch("/supervisor/follow-ups", { credentials: "same-origin" });
      if (answer.ok) showFollowUps(await answer.json());
    } catch (e) {
      /* shown again with the next push */
    }
  }

  render();
  loadFollowUps();
  setInterval(render, 1000);
  live((message) => {
    if (message.type === "wallboard") {
      board = message;
      received = Date.now();
      render();
      if (Date.now() - followUpsAt > 10000) loadFollowUps();
    }
  });
})();
