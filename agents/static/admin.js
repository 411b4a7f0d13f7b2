/* Admin page: queue membership and pause reasons. Each change is one request; the page reloads to show the
   result as the server has it. */
"use strict";

(() => {
  const { post, byId } = Console;

  async function change(errorId, url, body) {
    byId(errorId).textContent = "";
    try {
      await post(url, body);
      location.reload();
    } catch (err) {
      byId(errorId).textContent = err.message;
    }
  }

  byId("member-form").addEventListener("submit", (event) => {
    event.preventDefault();
    change("member-error", "/admin/members", {
      queue: byId("m-queue").value,
      username: byId("m-username").value,
      penalty: byId("m-penalty").value,
      tier: byId("m-tier").value,
    });
  });
  for (const button of document.querySelectorAll("button.remove")) {
    button.addEventListener("click", () =>
      change("member-error", "/admin/members/remove", { queue: button.dataset.queue, username: button.dataset.username })
    );
  }
  byId("reasons-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reasons = byId("reasons").value.split("\n").map((r) => r.trim()).filter(Boolean);
    change("reasons-error", "/admin/pause-reasons", { reasons });
  });
})();
