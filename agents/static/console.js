/* What every console page shares: the CSRF token, JSON requests, the live websocket, small DOM helpers.
   No framework: the pages are rendered by the server; these scripts only fill in what changes. */
"use strict";

const Console = (() => {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function toLogin() {
    location.assign("/account/login?next=" + encodeURIComponent(location.pathname));
  }

  /* POST a JSON body; resolves with the answer, rejects with an Error carrying .status and .fields. */
  async function post(url, body) {
    let answer;
    try {
      answer = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body === undefined ? {} : body),
      });
    } catch (e) {
      const err = new Error("网络中断，请求未送达服务器");
      err.status = 0;
      err.fields = {};
      throw err;
    }
    let data = {};
    try {
      data = await answer.json();
    } catch (e) {
      data = { error: "服务器返回了无法识别的应答（" + answer.status + "）" };
    }
    if (answer.status === 401) toLogin();
    if (!answer.ok) {
      const err = new Error(data.error || "请求失败（" + answer.status + "）");
      err.status = answer.status;
      err.fields = data.fields || {};
      throw err;
    }
    return data;
  }

  /* The live feed: one websocket per tab, reconnected with backoff, resynced (a full snapshot) on every open. */
  function live(onMessage, onOpen) {
    const link = document.getElementById("link");
    let delay = 500;
    let socket = null;
    let pinger = null;
    function show(state, label) {
      if (!link) return;
      link.dataset.state = state;
      link.textContent = label;
    }
    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/live/ws");
      show("connecting", "连接中…");
      socket.onopen = () => {
        delay = 500;
        show("up", "实时连接正常");
        socket.send(JSON.stringify({ type: "resync" }));
        pinger = setInterval(() => {
          if (socket.readyState === WebSocket.OPEN) socket.send('{"type": "ping"}');
        }, 25000);
        if (onOpen) onOpen();
      };
      socket.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (message.type === "pong") return;
        onMessage(message);
      };
      socket.onclose = (event) => {
        clearInterval(pinger);
        if (event.code === 4001) {
          show("down", "登录已失效");
          toLogin();
          return;
        }
        show("down", "实时连接中断，正在重连…");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    window.addEventListener("online", () => {
      if (!socket || socket.readyState === WebSocket.CLOSED) connect();
    });
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function text(id, value) {
    const el = byId(id);
    if (el) el.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  /* Replace a tbody's rows: each row an array of cells (strings, or DOM nodes). */
  function rows(tbodyId, items, cells, empty) {
    const body = byId(tbodyId);
    if (!body) return;
    body.replaceChildren();
    if (!items.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = body.closest("table").querySelectorAll("thead th").length;
      td.textContent = empty || "（无）";
      td.className = "empty";
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const item of items) {
      const tr = document.createElement("tr");
      for (const cell of cells(item)) {
        const td = document.createElement("td");
        if (cell instanceof Node) td.append(cell);
        else td.textContent = cell === null || cell === undefined || cell === "" ? "—" : String(cell);
        tr.append(td);
      }
      body.append(tr);
    }
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds || 0));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  }

  function clock(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleTimeString("zh-CN", { hour12: false });
  }

  return { csrf, post, live, byId, text, rows, duration, clock };
})();
