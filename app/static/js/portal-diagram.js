/* The graduate's live process diagram (bpmn-js NavigatedViewer, served from app/static/vendor).
 *
 * Loads {xml, items} from the element's data-src (the graduate's own projection), colours every
 * user task by its status (marker classes lx-st-<status> plus an icon overlay), shows the
 * server-rendered details (<template id="lx-detail-<key>">) of the task clicked in the diagram
 * or in the item list, and adds zoom buttons plus one-finger pan / two-finger pinch for phones
 * (diagram-js itself only handles the mouse).
 */
(function () {
  'use strict';

  var ICONS = {
    passed: 'bi-check-circle-fill', rejected: 'bi-x-circle-fill', pending: 'bi-hourglass-split',
    blocked: 'bi-lock-fill', waived: 'bi-clock-history', not_required: 'bi-dash-circle'
  };
  var MAX_SCALE = 1.1;
  var PAD = 24;

  var root = document.getElementById('lx-diagram');
  if (!root) { return; }
  var container = root.querySelector('.lx-canvas');
  var detail = document.getElementById('lx-detail');
  var list = document.querySelector('.lx-tasklist');
  var items = {};
  var selected = null;

  function showError() {
    var box = root.querySelector('.lx-diagram-error');
    box.textContent = root.dataset.error;
    box.classList.remove('d-none');
    container.classList.add('d-none');
  }

  if (typeof window.BpmnJS !== 'function') { showError(); return; }
  var viewer = new window.BpmnJS({ container: container });
  var canvas = viewer.get('canvas');

  /* Fit the diagram to the box's width (never larger than MAX_SCALE, so text stays readable on a
     desktop), and size the box to the diagram's aspect ratio within 240 px .. 78 % of the window:
     a tall diagram is then panned vertically (drag, wheel or one finger). */
  function fit() {
    canvas.resized();
    var inner = canvas.viewbox().inner;
    if (!inner || !inner.width) { return; }
    var outerWidth = container.clientWidth;
    var scale = Math.min(outerWidth / (inner.width + 2 * PAD), MAX_SCALE);
    var height = Math.round((inner.height + 2 * PAD) * scale);
    height = Math.max(240, Math.min(height, Math.round(window.innerHeight * 0.78)));
    container.style.height = height + 'px';
    canvas.resized();
    var width = outerWidth / scale;
    canvas.viewbox({ x: inner.x - PAD - Math.max(0, (width - inner.width - 2 * PAD) / 2), y: inner.y - PAD,
                     width: width, height: height / scale });
  }

  /* English pages: the diagram's own labels are Chinese. Tasks take their items' names, lanes their
     checkpoints' English names, the pool the graduate type; every other label (gateway questions,
     flow conditions, events) is dropped rather than shown in the other language. */
  function localise(xml, labels) {
    if (!labels || typeof DOMParser !== 'function') { return xml; }
    var doc = new DOMParser().parseFromString(xml, 'application/xml');
    if (doc.getElementsByTagName('parsererror').length) { return xml; }
    var all = doc.getElementsByTagName('*');
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (!el.hasAttribute('name') || el.namespaceURI !== 'http://www.omg.org/spec/BPMN/20100524/MODEL') { continue; }
      var id = el.getAttribute('id');
      var name = el.getAttribute('name');
      if (id && items[id]) {
        el.setAttribute('name', items[id].name);
      } else if (el.localName === 'lane') {
        el.setAttribute('name', (labels.lanes || {})[name] || name);
      } else if (el.localName === 'participant' || el.localName === 'process') {
        el.setAttribute('name', labels.process || name);
      } else {
        el.setAttribute('name', '');
      }
    }
    return new XMLSerializer().serializeToString(doc);
  }

  function zoomBy(factor, center) {
    var current = canvas.zoom();
    var next = Math.max(0.2, Math.min(4, current * factor));
    canvas.zoom(next, center || { x: container.clientWidth / 2, y: container.clientHeight / 2 });
  }

  function select(key, fromList) {
    if (!items[key]) { return; }
    if (selected) {
      canvas.removeMarker(selected, 'lx-selected');
      var old = list && list.querySelector('[data-key="' + selected + '"]');
      if (old) { old.classList.remove('active'); old.removeAttribute('aria-current'); }
    }
    selected = key;
    try { canvas.addMarker(key, 'lx-selected'); } catch (e) { /* task not drawn */ }
    var button = list && list.querySelector('[data-key="' + key + '"]');
    if (button) { button.classList.add('active'); button.setAttribute('aria-current', 'true'); }
    var template = document.getElementById('lx-detail-' + key);
    if (template) {
      detail.replaceChildren(template.content.cloneNode(true));
      detail.dataset.key = key;
    }
    if (fromList) {
      try { canvas.scrollToElement(key); } catch (e) { /* not in the diagram */ }
    } else if (detail.getBoundingClientRect().top > window.innerHeight) {
      detail.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    }
  }

  function paint() {
    var overlays = viewer.get('overlays');
    var registry = viewer.get('elementRegistry');
    Object.keys(items).forEach(function (key) {
      var status = items[key].status;
      if (!registry.get(key)) { return; }
      canvas.addMarker(key, 'lx-task');
      canvas.addMarker(key, 'lx-st-' + status);
      var badge = document.createElement('span');
      badge.className = 'lx-ov';
      var icon = document.createElement('i');
      icon.className = 'bi ' + (ICONS[status] || 'bi-circle') + ' lx-icon-' + status;
      badge.appendChild(icon);
      badge.setAttribute('title', items[key].label);
      overlays.add(key, 'lx-status', { position: { top: -11, right: 11 }, html: badge });
    });
    root.dataset.ready = 'true';
  }

  viewer.get('eventBus').on('element.click', function (event) {
    var id = event.element && (event.element.businessObject ? event.element.businessObject.id : event.element.id);
    if (id && items[id]) { select(id, false); }
  });

  root.querySelectorAll('[data-zoom]').forEach(function (button) {
    button.addEventListener('click', function () {
      var how = button.dataset.zoom;
      if (how === 'fit') { fit(); } else { zoomBy(how === 'in' ? 1.25 : 0.8); }
    });
  });

  if (list) {
    list.addEventListener('click', function (event) {
      var button = event.target.closest('[data-key]');
      if (button) { select(button.dataset.key, true); }
    });
  }

  /* touch: one finger pans, two fingers pinch-zoom */
  var pointers = new Map();
  var pinch = null;
  function pos(event) {
    var rect = container.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }
  container.addEventListener('pointerdown', function (event) {
    if (event.pointerType !== 'touch') { return; }
    pointers.set(event.pointerId, pos(event));
    pinch = null;
  });
  container.addEventListener('pointermove', function (event) {
    if (event.pointerType !== 'touch' || !pointers.has(event.pointerId)) { return; }
    var now = pos(event);
    if (pointers.size === 1) {
      var before = pointers.get(event.pointerId);
      canvas.scroll({ dx: now.x - before.x, dy: now.y - before.y });
    } else if (pointers.size === 2) {
      pointers.set(event.pointerId, now);
      var pts = Array.from(pointers.values());
      var dist = Math.hypot(pts[0].x - pts[1].x, pts[0].y - pts[1].y);
      var mid = { x: (pts[0].x + pts[1].x) / 2, y: (pts[0].y + pts[1].y) / 2 };
      if (pinch && pinch > 0) { zoomBy(dist / pinch, mid); }
      pinch = dist;
      return;
    }
    pointers.set(event.pointerId, now);
  });
  ['pointerup', 'pointercancel', 'pointerleave'].forEach(function (type) {
    container.addEventListener(type, function (event) {
      pointers.delete(event.pointerId);
      pinch = null;
    });
  });

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(fit, 150);
  });

  fetch(root.dataset.src, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (response) {
      if (!response.ok) { throw new Error('HTTP ' + response.status); }
      return response.json();
    })
    .then(function (data) {
      items = data.items || {};
      return viewer.importXML(localise(data.xml, data.labels));
    })
    .then(function () {
      fit();
      paint();
    })
    .catch(function (err) {
      if (window.console) { console.error(err); }
      showError();
    });
}());
