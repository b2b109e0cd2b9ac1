// SPDX-License-Identifier: Apache-2.0

// Query templates with selector placeholders, as the dashboards write them.
{
  // expand(q, selectors, selector) replaces each placeholder {K} (or {K, for
  // more matchers) of q, K a key of selectors, with selectors[K]. A raw
  // metric (a name without a colon) gets `selector` first; a recorded series
  // (level:metric:operation) does not: its rule selected its input, and its
  // aggregation dropped any selector label other than cluster, job and
  // instance.
  expand(q, selectors, selector)::
    local raw(prefix) =
      local isName(ch) = std.member('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:', ch);
      local name = std.foldl(function(acc, ch) if isName(ch) then acc + ch else '', std.stringChars(prefix), '');
      !std.member(name, ':');
    local one(prev, piece) =
      local key = std.substr(piece, 0, 1), next = std.substr(piece, 1, 1);
      if std.objectHas(selectors, key) && (next == '}' || next == ',') then
        (if raw(prev) then selector + ',' else '') + selectors[key] + std.substr(piece, 1, std.length(piece) - 1)
      else piece;
    local pieces = std.split(q, '{');
    pieces[0] + std.join('', ['{' + one(pieces[i - 1], pieces[i]) for i in std.range(1, std.length(pieces) - 1)]),
}
