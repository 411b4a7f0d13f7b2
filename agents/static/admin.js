/* Admin page: agents' accounts and skills, queue membership and settings, pause reasons, the registry upload.
   Each change is one request; the
   page reloads to show the result as the server has it. A refused change shows the server's message in the
   form's alert paragraph and, for a wrong field, next to that field. */
"use strict";

(() => {
  const { csrf, post, byId } = Console;

  function showFields(form, fields) {
    if (!form) return;
    for (const el of form.querySelectorAll(".field-error")) {
      el.textContent = (fields && fields[el.dataset.for]) || "";
    }
  }

  async function change(errorId, url, body, form) {
    byId(errorId).textContent = "";
    showFields(form, {});
    try {
      await post(url, body);
      location.reload();
    } catch (err) {
      byId(errorId).textContent = err.message;
      showFields(form, err.fields);
    }
  }

  function onSubmit(formId, send) {
    const form = byId(formId);
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(form);
    });
  }

  const agentPath = (username, what) => "/admin/agents/" + encodeURIComponent(username) + "/" + what;

  // ---- accounts

  onSubmit("agent-form", (form) =>
    change(
      "agent-error",
      "/admin/agents",
      {
        username: byId("a-username").value.trim(),
        display_name: byId("a-display-name").value,
        role: byId("a-role").value,
        password: byId("a-password").value,
      },
      form
    )
  );
  for (const button of document.querySelectorAll("button.toggle-active")) {
    button.addEventListener("click", () => {
      const active = button.dataset.active === "true";
      if (!active && !confirm("停用 " + button.dataset.username + "？该坐席将被签出并退出所有登录。")) return;
      change("active-error", agentPath(button.dataset.username, "active"), { active });
    });
  }

  const roleOf = byId("r-username");
  function showRole() {
    const option = roleOf && roleOf.selectedOptions[0];
    if (option) byId("r-role").value = option.dataset.role;
  }
  if (roleOf) {
    roleOf.addEventListener("change", showRole);
    showRole();
  }
  onSubmit("role-form", (form) =>
    change("role-error", agentPath(roleOf.value, "role"), { role: byId("r-role").value }, form)
  );
  onSubmit("password-form", (form) =>
    change("password-error", agentPath(byId("p-username").value, "password"), { password: byId("p-password").value }, form)
  );

  // ---- skills

  const skillsOf = byId("s-username");
  function showSkills() {
    const option = skillsOf && skillsOf.selectedOptions[0];
    let levels = {};
    try {
      levels = option ? JSON.parse(option.dataset.skills || "{}") : {};
    } catch (e) {
      levels = {};
    }
    for (const input of document.querySelectorAll("input.skill-level")) {
      const level = levels[input.dataset.skill];
      input.value = level === undefined ? "" : String(level);
    }
  }
  if (skillsOf) {
    skillsOf.addEventListener("change", showSkills);
    showSkills();
  }
  onSubmit("skills-form", (form) => {
    const skills = {};
    for (const input of document.querySelectorAll("input.skill-level")) {
      const value = input.value.trim();
      if (value !== "") skills[input.dataset.skill] = Number(value);
    }
    change("skills-error", agentPath(skillsOf.value, "skills"), { skills }, form);
  });
  onSubmit("skill-form", (form) =>
    change("skill-error", "/admin/skills", { kind: byId("k-kind").value, name: byId("k-name").value }, form)
  );

  // ---- queue membership

  onSubmit("member-form", () =>
    change("member-error", "/admin/members", {
      queue: byId("m-queue").value,
      username: byId("m-username").value,
      penalty: byId("m-penalty").value,
      tier: byId("m-tier").value,
    })
  );
  for (const button of document.querySelectorAll("button.remove")) {
    button.addEventListener("click", () =>
      change("member-error", "/admin/members/remove", { queue: button.dataset.queue, username: button.dataset.username })
    );
  }
  // ---- queue settings

  const queueOf = byId("q-name");
  const queueInputs = () => document.querySelectorAll("#queue-form input.q-number");
  function showQueue() {
    const option = queueOf && queueOf.selectedOptions[0];
    if (!option) return;
    let q = {};
    try {
      q = JSON.parse(option.dataset.settings || "{}");
    } catch (e) {
      q = {};
    }
    byId("q-display-name").value = q.display_name || "";
    byId("q-strategy").value = q.strategy || "";
    byId("q-join").value = q.join_when_empty || "";
    byId("q-leave").checked = Boolean(q.leave_when_empty);
    byId("q-aging").value = q.priority_aging_per_minute === undefined ? "" : String(q.priority_aging_per_minute);
    byId("q-penalty-steps").value = q.penalty_steps_text || "";
    for (const input of queueInputs()) {
      const value = q[input.name];
      input.value = value === null || value === undefined ? "" : String(value);
    }
  }
  if (queueOf) {
    queueOf.addEventListener("change", showQueue);
    showQueue();
  }
  onSubmit("queue-form", (form) => {
    // numbers go as the text typed: the server checks them and names the wrong field; blank unsets
    const body = {
      display_name: byId("q-display-name").value,
      strategy: byId("q-strategy").value,
      join_when_empty: byId("q-join").value,
      leave_when_empty: byId("q-leave").checked,
      priority_aging_per_minute: byId("q-aging").value,
      penalty_steps: byId("q-penalty-steps").value,
    };
    for (const input of queueInputs()) body[input.name] = input.value.trim() === "" ? null : input.value.trim();
    change("queue-error", "/admin/queues/" + encodeURIComponent(queueOf.value), body, form);
  });

  // ---- registry import: multipart, the CSRF token in its header (the form is then streamed, not buffered)

  function showImport(data) {
    const result = byId("registry-result");
    result.textContent = "";
    const summary = document.createElement("p");
    if (data.rejected_count) {
      summary.className = "error";
      summary.textContent = data.error;
      result.appendChild(summary);
      const list = document.createElement("ul");
      for (const p of data.rejected) {
        const item = document.createElement("li");
        item.textContent = (p.line === null ? "" : "第 " + p.line + " 行：") + p.reason;
        list.appendChild(item);
      }
      if (data.rejected_count > data.rejected.length) {
        const more = document.createElement("li");
        more.textContent = "……另有 " + (data.rejected_count - data.rejected.length) + " 处问题";
        list.appendChild(more);
      }
      result.appendChild(list);
      return;
    }
    summary.textContent =
      "已导入“" + data.file + "”（" + data.kind + "）：共 " + data.rows + " 行、" + data.distinct + " 个不同号码，新登记 " +
      data.imported + " 个，已登记过 " + data.already_registered + " 个（未改动），拒绝 0 行。";
    result.appendChild(summary);
  }

  onSubmit("registry-form", async (form) => {
    byId("registry-error").textContent = "";
    byId("registry-result").textContent = "";
    showFields(form, {});
    const file = byId("g-file").files[0];
    if (!file) {
      showFields(form, { file: "请选择要导入的名单文件" });
      return;
    }
    const data = new FormData();
    data.append("kind", byId("g-kind").value);
    data.append("file", file, file.name);
    const button = byId("g-import");
    button.disabled = true;
    try {
      const answer = await fetch("/admin/registry", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
        body: data,
      });
      let body = {};
      try {
        body = await answer.json();
      } catch (e) {
        body = { error: "服务器返回了无法识别的应答（" + answer.status + "）" };
      }
      if (answer.ok || body.rejected_count) {
        showImport(body);
      } else {
        byId("registry-error").textContent = body.error || "导入失败（" + answer.status + "）";
      }
      showFields(form, body.fields || {});
    } catch (e) {
      byId("registry-error").textContent = "网络中断，请求未送达服务器";
    } finally {
      button.disabled = false;
    }
  });

  // ---- pause reasons

  onSubmit("reasons-form", () => {
    const reasons = byId("reasons").value.split("\n").map((r) => r.trim()).filter(Boolean);
    change("reasons-error", "/admin/pause-reasons", { reasons });
  });
})();
