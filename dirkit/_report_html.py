"""The access report as one self-contained HTML page (`dirkit report --format html`).

No network fetch, no external script or font: the style and the script are inline, and the
page's Content-Security-Policy allows exactly those two (by hash) and nothing else, so a
browser refuses any request the page might try. Every value from AD is HTML-escaped. Tables
(users, roles, groups) sort by a click on a column heading and filter by the box above them;
the group nesting is an inline SVG graph; printed, every row shows and the controls hide.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from html import escape

from ._report import AccessReport, UserAccess
from ._state import Revocation

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ccc;padding:2px 6px;vertical-align:top;
text-align:left}thead th{background:#eef;position:sticky;top:0;cursor:pointer;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.ev th{background:#f4f4f4;cursor:auto;position:static}.off{color:#888}.warn{color:#a40}.ok{color:#070}
.list{max-height:8em;overflow:auto}.via{color:#666;font-size:.9em}input.filter{width:24em;padding:3px}
.count{color:#555;margin-left:1em}svg text{font:12px system-ui,sans-serif}
@media print{input.filter,.count{display:none}.list{max-height:none;overflow:visible}thead th{position:static}
thead{display:table-header-group}tr{break-inside:avoid}body{margin:0;font-size:10px}}
"""

# Sorting: numbers as numbers, the rest as text; filtering: a row shows when its text holds
# every word typed. Each row's text is lower-cased once, on the first filter.
SCRIPT = """
document.querySelectorAll("table.data").forEach(function (table) {
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows), texts = null;
  var input = document.querySelector('input[data-table="' + table.id + '"]');
  var count = document.querySelector('span[data-count="' + table.id + '"]');
  function show(n) { if (count) count.textContent = n + " of " + rows.length + " rows"; }
  show(rows.length);
  table.tHead.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.tHead.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var keyed = rows.map(function (r) {
        var c = r.cells[col], t = c ? (c.getAttribute("data-sort") || c.textContent) : "";
        return [t, r];
      });
      var numeric = keyed.every(function (k) { return k[0] === "" || !isNaN(k[0]); });
      keyed.sort(function (a, b) {
        var d = numeric ? (Number(a[0]) - Number(b[0])) : a[0].localeCompare(b[0]);
        return asc ? d : -d;
      });
      rows = keyed.map(function (k) { return k[1]; });
      texts = null;
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) { frag.appendChild(r); });
      body.appendChild(frag);
    });
  });
  if (input) input.addEventListener("input", function () {
    if (!texts) texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    rows.forEach(function (r, i) {
      var hit = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
      r.hidden = !hit; if (hit) shown++;
    });
    show(shown);
  });
});
"""

GRAPH_LIMIT = 300  # nested groups drawn; past it the nesting table below the graph still lists every edge


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _shown(key: str, value: object) -> str:
    if value is None:
        return "now: the last applied snapshot" if key == "as_of" else "-"
    return str(value)


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _table(table_id: str, heads: Sequence[str], rows: Iterable[str], caption: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    return (
        f'<p><input class="filter" type="search" data-table="{table_id}" placeholder="filter {caption}" '
        f'aria-label="filter {caption}"><span class="count" data-count="{table_id}"></span></p>'
        f'<table class="data" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _names(names: Sequence[str]) -> str:
    return f'<td data-sort="{len(names)}"><div class="list">{escape(", ".join(names))}</div></td>'


def _proof(r: Revocation) -> str:
    """A revocation verdict, when it was checked, and what it rests on (each check's answer)."""
    cls = "ok" if r.denied else "warn"
    rests = "; ".join(f"{e['check']}: {e['detail']}" for e in r.evidence) or "no evidence"
    return (
        f'<span class="{cls}">{escape(r.verdict)}</span> <span class="via">{escape(r.to_json()["checked"])}'
        f'</span> <span class="via">on {escape(rests)}</span>'
    )


def _user_row(u: UserAccess, queues: bool = False) -> str:
    groups = ", ".join(
        escape(g) + (f' <span class="via">via {escape(" > ".join(via[:-1]))}</span>' if len(via) > 1 else "")
        for g, via in u.groups
    )
    cluster = escape(u.cluster_name)
    others = [
        f"{k} {n}" for k, n in (("Hadoop:", u.hadoop_name or "no rule"), ("Hue:", u.hue_name)) if n != u.name and n
    ]
    if others:
        cluster += f' <span class="warn">{escape("; ".join(others))}</span>'
    if u.cluster_unresolved:
        cluster += f' <span class="warn">shows as SIDs: {escape(", ".join(u.cluster_unresolved))}</span>'
    home = escape(u.home or "")
    h = u.home_state
    if h is not None and h.checked is not None:
        home += f' <span class="via">{escape(f"{h.owner}:{h.group} {h.mode}")}</span>'
    elif u.home:
        home += ' <span class="via">not provisioned</span>'
    proof = ""
    if u.revocation is not None:
        proof = _proof(u.revocation)
    cells = [
        f"<td>{escape(u.name)}</td>",
        f'<td class="{"" if u.enabled else "off"}">{"yes" if u.enabled else "no"}</td>',
        f'<td data-sort="{len(u.groups)}"><div class="list">{groups}</div></td>',
        f"<td>{cluster}</td>",
        f"<td>{home}</td>",
        f"<td>{proof}</td>",
    ]
    if queues and u.queue is not None:  # [yarn]: the queue, and the mapping that decides (#n)
        mark = "" if u.queue.mapping_index is None else f" #{u.queue.mapping_index}"
        cells.append(f'<td title="{escape(u.queue.reason)}">{escape(u.queue.queue)}{mark}</td>')
    for a in u.access:
        mark = "" if a.mapping_index is None else f" #{a.mapping_index}"
        cells.append(f"<td>{escape(_role_name(a.role))}{mark}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _layers(edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each group's column, members left of the groups they are in. A group's depth is 0 when it
    is in no other group, else one more than its deepest parent's; its column is the greatest
    depth minus its own. An edge that closes a cycle is left out of the depths (AD allows cycles)."""
    parents: dict[str, list[str]] = {}
    for child, parent in edges:
        parents.setdefault(child, []).append(parent)
        parents.setdefault(parent, [])
    depth: dict[str, int] = {}
    for start in sorted(parents):
        stack, on_path = [(start, iter(parents[start]))], {start}
        while stack:
            node, it = stack[-1]
            nxt = next((p for p in it if p not in depth and p not in on_path), None)
            if nxt is not None:
                stack.append((nxt, iter(parents[nxt])))
                on_path.add(nxt)
                continue
            stack.pop()
            on_path.discard(node)
            depth[node] = 1 + max((depth[p] for p in parents[node] if p in depth), default=-1)
    top = max(depth.values(), default=0)
    return {g: top - d for g, d in depth.items()}  # members on the left, the groups they are in to the right


def nesting_svg(edges: Sequence[tuple[str, str]]) -> str:
    """The group nesting as an inline SVG graph: an arrow from each group to the group it is in."""
    if not edges:
        return "<p>No group is a member of another group.</p>"
    drawn = sorted({g for e in edges for g in e})[:GRAPH_LIMIT]
    keep = set(drawn)
    shown = [(c, p) for c, p in edges if c in keep and p in keep]
    column = _layers(shown)
    rows: dict[int, list[str]] = {}
    for g in sorted(column, key=lambda g: (column[g], g)):
        rows.setdefault(column[g], []).append(g)
    width, height, gap_x, gap_y = 170, 22, 60, 10
    pos = {g: (20 + c * (width + gap_x), 10 + i * (height + gap_y)) for c, gs in rows.items() for i, g in enumerate(gs)}
    w = 40 + (max(rows) + 1) * (width + gap_x)
    h = 20 + max(len(gs) for gs in rows.values()) * (height + gap_y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="group nesting: an arrow from each group to the group it is a member of">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>',
    ]
    for child, parent in shown:
        (cx, cy), (px, py) = pos[child], pos[parent]
        back = cx >= px  # an edge that closes a cycle points right to left
        x1, x2 = (cx, px + width) if back else (cx + width, px)
        parts.append(
            f'<line x1="{x1}" y1="{cy + height / 2}" x2="{x2}" y2="{py + height / 2}" stroke="{"#c60" if back else "#555"}" '
            f'marker-end="url(#arrow)"><title>{escape(child)} is a member of {escape(parent)}</title></line>'
        )
    for g, (x, y) in pos.items():
        parts.append(
            f'<g><rect x="{x}" y="{y}" width="{width}" height="{height}" rx="4" fill="#eef" stroke="#88a"/>'
            f'<text x="{x + 6}" y="{y + 15}">{escape(g[:26])}</text><title>{escape(g)}</title></g>'
        )
    parts.append("</svg>")
    more = len({g for e in edges for g in e}) - len(drawn)
    note = f"<p>{more} more nested group(s) not drawn; the table lists every edge.</p>" if more > 0 else ""
    return "".join(parts) + note


def render(report: AccessReport) -> str:
    """The whole page."""
    ev = report.evidence
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f'style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; img-src data:">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>dirkit access report {escape(str(ev.get('as_of') or ev.get('generated')))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Who can reach what</h1>",
        '<table class="ev"><tbody>',
        *(f"<tr><th>{escape(k)}</th><td>{escape(_shown(k, v))}</td></tr>" for k, v in sorted(ev.items())),
        "</tbody></table>",
        "<p>This file's sha256 is printed by <code>dirkit report</code> beside its name.</p>",
    ]
    users = report.users
    out.append(
        f"<p>{len(users)} users ({sum(u.enabled for u in users)} enabled), {len(report.groups)} groups, "
        f"{len(report.roles)} roles, {len(report.prefixes)} S3 prefixes.</p>"
    )
    if report.changes is not None:
        out.append(_changes(report))
    out.append('<h2 id="users">Users</h2>')
    out.append(
        "<p>Per S3 prefix: the IAM role EMRFS picks (<code>#n</code>: the role mapping that decides it; "
        "no number: no mapping matched, the EC2 role's own rights).</p>"
    )
    queues = any(u.queue is not None for u in users)
    heads = ["user", "enabled", "groups", "name on the nodes", "HDFS home", "revocation proof"]
    heads += ["YARN queue"] * queues + list(report.prefixes)
    out.append(_table("users-table", heads, (_user_row(u, queues) for u in users), "users"))
    out.append('<h2 id="roles">Roles</h2>')
    out.append(_table("roles-table", ["role", "prefix", "mapping", "users", "who"], _role_rows(report), "roles"))
    out.append('<h2 id="groups">Groups</h2>')
    group_rows = (
        f"<tr><td>{escape(g)}</td>{_names(direct)}{_names(eff)}</tr>"
        for g, (direct, eff) in sorted(report.groups.items())
    )
    out.append(_table("groups-table", ["group", "direct members", "effective members"], group_rows, "groups"))
    if report.reserved:
        out.append('<h2 id="reserved">Reserved names: AD accounts refused a cluster identity</h2>')
        reserved_rows = (
            f"<tr><td>{escape(i.kind)}</td><td>{escape(i.dn)}</td><td>{escape(i.detail)}</td></tr>"
            for i in report.reserved
        )
        out.append(
            _table("reserved-table", ["issue", "AD object", "what it would have become"], reserved_rows, "reserved")
        )
    out.append('<h2 id="nesting">Group nesting</h2>')
    out.append(nesting_svg(report.nesting))
    edge_rows = (f"<tr><td>{escape(c)}</td><td>{escape(p)}</td></tr>" for c, p in report.nesting)
    out.append(_table("nesting-table", ["group", "is a member of"], edge_rows, "nesting"))
    out.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "\n".join(out)


def _role_rows(report: AccessReport) -> Iterable[str]:
    for role, grants in sorted(report.roles.items()):
        by_rule: dict[tuple[str, int, str], list[str]] = {}
        for user, prefix, index, reason in grants:  # a group mapping's reason names the group that decides
            by_rule.setdefault((prefix, -1 if index is None else index, reason), []).append(user)
        for (prefix, _, rule), who in sorted(by_rule.items()):
            yield (
                f'<tr><td title="{escape(role)}">{escape(_role_name(role))}</td><td>{escape(prefix)}</td>'
                f'<td>{escape(rule)}</td><td>{len(who)}</td><td><div class="list">{escape(", ".join(who))}</div></td></tr>'
            )


def _changes(report: AccessReport) -> str:
    ch = report.changes
    assert ch is not None
    rows = []
    for role, (gained, lost) in sorted(ch.roles.items()):
        for kind, grants in (("gained", gained), ("lost", lost)):
            for user, prefix in grants:
                rows.append(
                    f"<tr><td>{escape(_role_name(role))}</td><td>{kind}</td><td>{escape(user)}</td><td>{escape(prefix)}</td></tr>"
                )
    group_rows = [
        f"<tr><td>{escape(g)}</td><td>{kind}</td><td>{escape(u)}</td></tr>"
        for g, (gained, lost) in sorted(ch.groups.items())
        for kind, users in (("gained", gained), ("lost", lost))
        for u in users
    ]
    revoked = []
    for r in ch.revoked:
        p = r.proof
        verdict = "no proof yet: run dirkit verify --revoked" if p is None else p.verdict
        rests = "; ".join(f"{e['check']}: {e['detail']}" for e in p.evidence) if p else ""
        revoked.append(
            f"<tr><td>{escape(r.name)}</td><td>{escape(r.why)}</td><td>{escape(verdict)}</td>"
            f"<td>{escape(rests or '-')}</td><td>{escape(p.to_json()['checked'] if p else '')}</td></tr>"
        )
    return (
        f'<h2 id="changes">Changes since {escape(ch.since)}</h2>'
        + _table("role-changes-table", ["role", "change", "user", "prefix"], rows, "role changes")
        + _table("group-changes-table", ["group", "change", "user"], group_rows, "group changes")
        + "<h3>Revoked users (disabled or removed in AD)</h3>"
        + _table("revoked-table", ["user", "why", "proof", "rests on", "checked"], revoked, "revoked users")
    )
