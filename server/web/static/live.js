// Traybell's live pages: the inbox and one notification follow every change at once, in every
// open tab, through the session's event stream (GET /events: the events of /v1/events). No
// framework and no build step; without this script every page works as it was rendered.
// Text from notifications only ever goes into the page as text (textContent), never as markup.
"use strict";

(() => {
  const live = document.querySelector("[data-events]");
  if (!live || !("EventSource" in window)) return;
  const one = live.dataset.notificationId; // set on /n/<id>
  const announcer = document.getElementById("live-announcer");
  const marks = { info: "i", success: "✓", warning: "!", critical: "‼" };
  // The page's words in its language (macros.html's live_words), and its plural and digits.
  const words = JSON.parse(document.getElementById("live-words").textContent);
  const language = document.documentElement.lang;
  const plural = new Intl.PluralRules(language);
  const digits = new Intl.NumberFormat(language === "hi" ? "hi-IN" : language);
  const counted = (forms, n) =>
    forms[plural.select(n) === "one" ? 0 : 1].replace("%(num)s", digits.format(n));
  const burst = []; // new unread notifications not yet announced
  const BURST_MS = 1000; // what arrives within a second is one announcement and one alert

  // ------------------------------------------------------------------ the stream

  const source = new EventSource(live.dataset.events);
  live.dataset.liveState = "connecting";
  source.addEventListener("open", () => { live.dataset.liveState = "open"; });
  source.addEventListener("error", () => {
    // closed: the session ended (the server answered 204); else the browser reconnects itself
    live.dataset.liveState = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
  });
  source.addEventListener("sync", (event) => {
    const page = JSON.parse(event.data);
    for (const change of page.changes) (one ? followOne : follow)(change);
    showUnread(page.unread);
    for (const upTo of document.querySelectorAll("input[name=up_to]")) upTo.value = page.cursor;
  });

  // ------------------------------------------------------------------ the inbox

  function follow(n) {
    const row = document.getElementById("n-" + n.id);
    if (n.archived_at || (live.dataset.unreadOnly === "1" && n.read_at)) {
      if (row) row.remove();
      return;
    }
    if (row) {
      const fresh = rowFor(n);
      fresh.querySelector("time").textContent = row.querySelector("time").textContent;
      const hadFocus = row.contains(document.activeElement);
      row.replaceWith(fresh);
      if (hadFocus) fresh.focus(); // the keyboard keeps its place
      return;
    }
    // a new row belongs on the first page, above what it shows (not on an older page)
    const newest = document.querySelector("ul.inbox > li");
    if (live.dataset.firstPage !== "1" || (newest && newest.dataset.created > n.created_at)) return;
    listOf().prepend(rowFor(n));
    if (!n.read_at) arrived(n);
  }

  function listOf() {
    let list = document.querySelector("ul.inbox");
    if (!list) {
      const empty = document.querySelector(".card.empty");
      list = el("ul", { class: "inbox" });
      if (empty) empty.replaceWith(list);
      else live.append(list);
    }
    return list;
  }

  function rowFor(n) {
    const unread = !n.read_at;
    const top = el("span", { class: "item-top" });
    if (unread) {
      top.append(el("span", { class: "dot", "aria-hidden": "true" }, "●"),
        el("span", { class: "visually-hidden" }, words.unread_mark), " ");
    }
    top.append(
      el("span", { class: `sev sev-${n.severity}` },
        el("span", { class: "sev-mark", "aria-hidden": "true" }, marks[n.severity] || "i"),
        " " + (words.severities[n.severity] || n.severity)),
      " ", el("span", { class: "title" }, n.title));
    const link = el("a", { class: "item-main", href: "/n/" + n.id }, top);
    if (n.summary) link.append(el("span", { class: "summary" }, n.summary));
    link.append(el("span", { class: "meta" },
      el("time", { datetime: n.created_at }, words.just_now), " · " + n.event_name));
    const actions = el("div", { class: "item-actions" });
    if (unread) actions.append(action(n, "read", words.mark_read));
    actions.append(action(n, "archive", words.archive));
    return el("li", {
      class: unread ? "item unread" : "item", id: "n-" + n.id, tabindex: "-1",
      "data-created": n.created_at,
    }, link, actions);
  }

  function action(n, verb, label) {
    return el("form", { method: "post", action: `/n/${n.id}/${verb}`, class: "inline" },
      el("input", { type: "hidden", name: "csrf_token", value: live.dataset.csrf }),
      el("input", { type: "hidden", name: "back", value: live.dataset.back }),
      el("button", { type: "submit" }, label, el("span", { class: "visually-hidden" }, ": " + n.title)));
  }

  // ------------------------------------------------------------------ one notification

  function followOne(n) {
    if (n.id !== one) return;
    const state = words.states[n.archived_at ? "archived" : n.read_at ? "read" : "unread"];
    for (const shown of document.querySelectorAll("[data-read-state]")) shown.textContent = state;
  }

  // ------------------------------------------------------------------ count, title, announcements

  function showUnread(count) {
    for (const shown of document.querySelectorAll("[data-unread-count]")) {
      shown.textContent = counted(words.unread_count, count);
    }
    for (const readAll of document.querySelectorAll("form.read-all")) readAll.hidden = !count;
    const base = live.dataset.titleBase;
    if (base) document.title = count ? `(${digits.format(count)}) ${base}` : base;
  }

  function arrived(n) {
    burst.push(n);
    if (burst.length === 1) setTimeout(endBurst, BURST_MS);
  }

  function endBurst() {
    const fresh = burst.splice(0);
    const first = fresh[0];
    const text = fresh.length === 1
      ? words.new_one.replace("%(title)s", () => first.title)
      : counted(words.new_many, fresh.length);
    if (announcer) announcer.textContent = text; // polite: once per burst, not per event
    if (!document.hidden || !alertsOn()) return;
    // title and summary only, never the body: an alert shows on a screen others may see
    const alert = fresh.length === 1
      ? new Notification(first.title, { body: first.summary || "", tag: "traybell" })
      : new Notification(text, { body: fresh.slice(0, 3).map((n) => n.title).join("\n"), tag: "traybell" });
    alert.onclick = () => {
      window.focus();
      location.href = fresh.length === 1 ? "/n/" + first.id : "/";
      alert.close();
    };
  }

  // ------------------------------------------------------------------ desktop alerts

  const ALERTS_KEY = "traybell-alerts";
  function alertsOn() {
    return "Notification" in window && Notification.permission === "granted"
      && localStorage.getItem(ALERTS_KEY) === "on";
  }

  const alerts = document.querySelector("[data-alerts]");
  if (alerts) {
    const button = alerts.querySelector("button");
    const status = alerts.querySelector("[data-alerts-status]");
    const say = (text) => { status.textContent = text; };
    const showState = () => {
      button.hidden = alertsOn();
      if (alertsOn()) say(words.alerts_on);
    };
    alerts.hidden = false;
    // The permission is asked only after this click: browsers block a question nobody asked for.
    button.addEventListener("click", async () => {
      if (!("Notification" in window)) return say(words.alerts_unsupported);
      if (!window.isSecureContext) {
        return say(words.alerts_need_https);
      }
      const permission = await Notification.requestPermission();
      if (permission === "granted") localStorage.setItem(ALERTS_KEY, "on");
      else if (permission === "denied") {
        say(words.alerts_blocked);
      } else say(words.alerts_unanswered);
      showState();
    });
    showState();
  }

  // ------------------------------------------------------------------ helpers

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }
})();
