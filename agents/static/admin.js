/* Admin page: agents' accounts and skills, queue membership and pause reasons. Each change is one request; the
   page reloads to show the result as the server has it. A refused change shows the server's message in the
   form's alert paragraph and, for a wrong field, next to that field. */
"use strict";

(() => {
  const { post, byId } = Console;

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

  // ---- queue membership and pause reasons

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
  onSubmit("reasons-form", () => {
    const reasons = byId("reasons").value.split("\n").map((r) => r.trim()).filter(Boolean);
    change("reasons-error", "/admin/pause-reasons", { reasons });
  });
})();
