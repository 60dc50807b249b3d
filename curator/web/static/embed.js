/*
 * Curator links widget.
 *
 *   <div id="links"><a href="https://example.org/links">Our links</a></div>
 *   <script src="https://curator.example.org/embed.js" data-target="#links"
 *           data-limit="10" data-category="research" async></script>
 *
 * data-target     CSS selector of the element to fill (default: a new element before the script)
 * data-limit      how many links (the server caps it at publish.limit)
 * data-category   news, research or guidance (several comma-separated); default all
 * data-class      publisher classes: government, police, regulator, academic, press,
 *                 industry, campaign (several comma-separated); default all
 * data-jurisdiction  UK, US, EU, INT… (several comma-separated); default all
 * data-summaries  1 (default) or 0
 * data-dates      1 (default) or 0
 *
 * It fetches links.json from the origin (and path) it was loaded from, and builds the list with
 * createElement and textContent only: feed data never reaches innerHTML, and only http(s)
 * links become anchors.  The element's existing content stays until the list has loaded, so a
 * fallback link written there still works without JavaScript or when the fetch fails.
 * No dependencies, no cookies (credentials: "omit"), nothing from any third party.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function attr(name, fallback) {
    var value = script.getAttribute(name);
    return value === null ? fallback : value.trim();
  }

  function httpUrl(value) {
    if (typeof value !== "string") {
      return null;
    }
    var url;
    try {
      url = new URL(value);
    } catch (e) {
      return null;
    }
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  }

  function text(value) {
    return typeof value === "string" ? value : "";
  }

  function humanDate(value) {
    var d = new Date(text(value));
    if (isNaN(d.getTime())) {
      return null;
    }
    return {
      iso: d.toISOString().replace(/\.\d{3}Z$/, "Z"),
      label: d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear()
    };
  }

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (content) {
      node.textContent = content;
    }
    return node;
  }

  function build(feed, options) {
    var items = feed && Array.isArray(feed.items) ? feed.items : [];
    var list = el("ul", "curator-links");
    items.forEach(function (item) {
      if (!item || typeof item !== "object") {
        return;
      }
      var href = httpUrl(item.url);
      var title = text(item.title).trim();
      if (!href || !title) {
        return;
      }
      var li = el("li", "curator-item");
      if (Array.isArray(item.tags) && typeof item.tags[0] === "string") {
        li.setAttribute("data-category", item.tags[0]);
      }
      var a = el("a", "curator-title", title);
      a.href = href;
      a.dir = "auto";
      li.appendChild(a);
      var research = item._curator && typeof item._curator === "object" ? item._curator : null;
      var citation = research ? text(research.citation).trim() : "";
      if (citation) {
        var cite = el("div", "curator-citation", citation);
        cite.dir = "auto";
        li.appendChild(cite);
      }
      var date = options.dates ? humanDate(item.date_published) : null;
      if (date) {
        var meta = el("div", "curator-meta");
        var time = el("time", "", date.label);
        time.setAttribute("datetime", date.iso);
        meta.appendChild(time);
        li.appendChild(meta);
      }
      var summary = text(item.summary) || text(item.content_text);
      if (options.summaries && summary.trim()) {
        var p = el("p", "curator-summary", summary.trim());
        p.dir = "auto";
        li.appendChild(p);
      }
      list.appendChild(li);
    });
    if (!list.firstChild) {
      return el("p", "curator-empty", "No links to show yet.");
    }
    return list;
  }

  function findTarget() {
    var selector = attr("data-target", "");
    if (selector) {
      try {
        return document.querySelector(selector);
      } catch (e) {
        return null;
      }
    }
    var parent = script.parentNode;
    if (!parent || parent === document.head) {
      return null;
    }
    var div = el("div", "curator-widget");
    parent.insertBefore(div, script);
    return div;
  }

  function run() {
    var target = findTarget();
    if (!target) {
      window.console && console.error("curator embed.js: no element matches data-target");
      return;
    }
    var url = new URL("links.json", script.src);
    var limit = attr("data-limit", "");
    var category = attr("data-category", "");
    if (limit) {
      url.searchParams.set("limit", limit);
    }
    if (category) {
      url.searchParams.set("category", category);
    }
    var publisherClass = attr("data-class", "");
    if (publisherClass) {
      url.searchParams.set("class", publisherClass);
    }
    var jurisdiction = attr("data-jurisdiction", "");
    if (jurisdiction) {
      url.searchParams.set("jurisdiction", jurisdiction);
    }
    var options = {
      summaries: attr("data-summaries", "1") !== "0",
      dates: attr("data-dates", "1") !== "0"
    };
    target.setAttribute("aria-busy", "true");
    fetch(url.href, { credentials: "omit", mode: "cors" })
      .then(function (response) {
        if (!response.ok) {
          return response.text().then(function (body) {
            throw new Error(response.status + " " + body.trim());
          });
        }
        return response.json();
      })
      .then(function (feed) {
        target.replaceChildren(build(feed, options));
      })
      .catch(function (error) {
        window.console && console.error("curator embed.js: " + error.message);
      })
      .then(function () {
        target.removeAttribute("aria-busy");
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
