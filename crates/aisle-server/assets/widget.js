/* Aisle storefront widget: recommendation carousels for any page, no dependencies.
 *
 *   <script src="https://aisle.example/widget.js" data-key="PUBLIC_KEY" defer></script>
 *   <div data-aisle-placement="product-page" data-aisle-item="i17"></div>
 *
 * Each element with data-aisle-placement gets that placement's list (GET
 * /v1/placements/NAME/items) as a carousel; a click on an item is sent back as a `click`
 * event with the list's recommendation_id and the item's position (navigator.sendBeacon), so
 * attribution and experiments need no further code. Attributes of the element:
 *   data-aisle-placement  the placement (required)
 *   data-aisle-item       the page's item (similar, bought together, relative rules)
 *   data-aisle-items      comma-separated basket items (a basket placement)
 *   data-aisle-n          how many items
 *   data-aisle-title      the carousel's heading (default: the placement's title, if any)
 *   data-aisle-href       a link template for items without attributes.url, e.g.
 *                         "/product/{item_id}"
 *   data-aisle-user       the shopper (else the script tag's data-aisle-user, else an
 *                         anonymous id kept in localStorage under "aisle_user"; no cookies)
 * Styling: CSS custom properties on the element or any ancestor: --aisle-accent,
 * --aisle-text, --aisle-muted, --aisle-bg, --aisle-card-width, --aisle-radius, --aisle-gap,
 * --aisle-font. When rendered, the element gets data-aisle-ready="1" and an "aisle:rendered"
 * event bubbles from it; on failure, data-aisle-error with the reason (the page is left as
 * it was).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = script.src.replace(/\/widget\.js(\?.*)?$/, "");
  var key = script.getAttribute("data-key") || "";

  function shopper(element) {
    var given = element.getAttribute("data-aisle-user") || script.getAttribute("data-aisle-user");
    if (given) return given;
    try {
      var id = localStorage.getItem("aisle_user");
      if (!id) {
        id = "anon-" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
        localStorage.setItem("aisle_user", id);
      }
      return id;
    } catch (e) {
      return "";
    }
  }

  function url(path, params) {
    var query = [];
    for (var name in params) {
      if (params[name]) query.push(name + "=" + encodeURIComponent(params[name]));
    }
    return base + path + (query.length ? "?" + query.join("&") : "");
  }

  var STYLE =
    ".aisle{--a:var(--aisle-accent,#2457c5);font-family:var(--aisle-font,inherit);color:var(--aisle-text,#1d2433);margin:1.5em 0}" +
    ".aisle h2{font-size:1.15em;margin:0 0 .6em}" +
    ".aisle-frame{position:relative}" +
    ".aisle-track{display:flex;gap:var(--aisle-gap,12px);overflow-x:auto;scrollbar-width:thin;scroll-snap-type:x mandatory;scroll-behavior:smooth;padding:4px 2px 10px;margin:0;list-style:none}" +
    ".aisle-card{flex:0 0 var(--aisle-card-width,168px);scroll-snap-align:start;background:var(--aisle-bg,#fff);border:1px solid #dde2ea;border-radius:var(--aisle-radius,10px);overflow:hidden}" +
    ".aisle-card a{display:block;color:inherit;text-decoration:none;height:100%}" +
    ".aisle-card a:focus-visible{outline:3px solid var(--a);outline-offset:-3px}" +
    ".aisle-img{display:flex;align-items:center;justify-content:center;aspect-ratio:1;background:#eef1f6;color:var(--a);font-size:2.2em;font-weight:700}" +
    ".aisle-img img{width:100%;height:100%;object-fit:cover}" +
    ".aisle-body{padding:.55em .7em .75em}" +
    ".aisle-name{font-size:.92em;line-height:1.3;margin:0 0 .35em;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}" +
    ".aisle-price{font-weight:700;color:var(--a)}" +
    ".aisle-nav{position:absolute;top:38%;width:2.2em;height:2.2em;border-radius:50%;border:1px solid #cfd6e2;background:#fff;color:var(--a);font-size:1.1em;cursor:pointer;box-shadow:0 1px 4px rgba(0,0,0,.15)}" +
    ".aisle-nav:focus-visible{outline:3px solid var(--a)}" +
    ".aisle-prev{left:-.6em}.aisle-next{right:-.6em}" +
    "@media (max-width:600px){.aisle-nav{display:none}.aisle-card{flex-basis:var(--aisle-card-width,42vw)}}";

  function style() {
    if (document.getElementById("aisle-style")) return;
    var element = document.createElement("style");
    element.id = "aisle-style";
    element.textContent = STYLE;
    document.head.appendChild(element);
  }

  function make(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text != null) element.textContent = text;
    return element;
  }

  function price(value, currency) {
    if (typeof value !== "number") return "";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(value);
    } catch (e) {
      return value.toFixed(2);
    }
  }

  function sendClick(user, list, entry, position) {
    var body = JSON.stringify({
      user_id: user,
      item_id: entry.item_id,
      type: "click",
      recommendation_id: list.recommendation_id,
      position: position
    });
    var target = url("/v1/events", { key: key });
    var blob = new Blob([body], { type: "text/plain" });
    if (!(navigator.sendBeacon && navigator.sendBeacon(target, blob))) {
      fetch(target, { method: "POST", body: body, headers: { "Content-Type": "text/plain" }, keepalive: true }).catch(function () {});
    }
  }

  function render(element, list, user) {
    var name = element.getAttribute("data-aisle-placement");
    var heading = element.getAttribute("data-aisle-title") || list.title || "";
    var template = element.getAttribute("data-aisle-href");
    var root = make("section", "aisle");
    root.setAttribute("aria-label", heading || "Recommendations");
    if (heading) root.appendChild(make("h2", "", heading));
    var frame = make("div", "aisle-frame");
    var track = make("ul", "aisle-track");
    track.setAttribute("role", "list");
    list.items.forEach(function (entry, position) {
      var item = entry.item || {};
      var attributes = item.attributes || {};
      var card = make("li", "aisle-card");
      card.setAttribute("data-item", entry.item_id);
      var link = make("a");
      link.href = attributes.url || (template ? template.replace("{item_id}", encodeURIComponent(entry.item_id)) : "#");
      var title = item.title || entry.item_id;
      var picture = make("div", "aisle-img");
      if (attributes.image_url) {
        var img = make("img");
        img.src = attributes.image_url;
        img.alt = "";
        img.loading = "lazy";
        picture.appendChild(img);
      } else {
        picture.textContent = title.charAt(0).toUpperCase();
        picture.setAttribute("aria-hidden", "true");
      }
      link.appendChild(picture);
      var body = make("div", "aisle-body");
      body.appendChild(make("p", "aisle-name", title));
      var shown = price(item.price, attributes.currency);
      if (shown) body.appendChild(make("span", "aisle-price", shown));
      link.appendChild(body);
      link.addEventListener("click", function () {
        sendClick(user, list, entry, position);
      });
      card.appendChild(link);
      track.appendChild(card);
    });
    // Arrow keys move between the cards' links, as in any list of links.
    track.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      var links = Array.prototype.slice.call(track.querySelectorAll("a"));
      var at = links.indexOf(document.activeElement);
      if (at < 0) return;
      var next = links[at + (event.key === "ArrowRight" ? 1 : -1)];
      if (next) {
        next.focus();
        event.preventDefault();
      }
    });
    frame.appendChild(track);
    [["aisle-prev", "Previous items", "\u2039", -1], ["aisle-next", "Next items", "\u203a", 1]].forEach(function (b) {
      var button = make("button", "aisle-nav " + b[0], b[2]);
      button.type = "button";
      button.setAttribute("aria-label", b[1]);
      button.addEventListener("click", function () {
        track.scrollBy({ left: b[3] * track.clientWidth * 0.9 });
      });
      frame.appendChild(button);
    });
    root.appendChild(frame);
    element.textContent = "";
    element.appendChild(root);
    element.setAttribute("data-aisle-ready", "1");
    element.setAttribute("data-aisle-recommendation", list.recommendation_id);
    element.dispatchEvent(new CustomEvent("aisle:rendered", { bubbles: true, detail: { placement: name, list: list } }));
  }

  function load(element) {
    var name = element.getAttribute("data-aisle-placement");
    var user = shopper(element);
    var request = url("/v1/placements/" + encodeURIComponent(name) + "/items", {
      user_id: user,
      item_id: element.getAttribute("data-aisle-item"),
      items: element.getAttribute("data-aisle-items"),
      n: element.getAttribute("data-aisle-n"),
      details: "true",
      key: key
    });
    fetch(request)
      .then(function (answer) {
        return answer.json().then(function (body) {
          if (!answer.ok) throw new Error((body.error && body.error.message) || "HTTP " + answer.status);
          return body;
        });
      })
      .then(function (list) {
        if (list.items && list.items.length) render(element, list, user);
        else element.setAttribute("data-aisle-error", "no items");
      })
      .catch(function (error) {
        element.setAttribute("data-aisle-error", String(error && error.message || error));
      });
  }

  function start() {
    style();
    var elements = document.querySelectorAll("[data-aisle-placement]");
    for (var i = 0; i < elements.length; i++) load(elements[i]);
  }

  window.Aisle = { refresh: start };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
