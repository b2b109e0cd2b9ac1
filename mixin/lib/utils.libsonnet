// SPDX-License-Identifier: Apache-2.0

// Numbers and durations as the rules and dashboards print them.
{
  // num prints a threshold as written (0.8, not 0.80000000000000004).
  num(x):: '%.15g' % x,

  // pct prints a ratio as a percentage: pct(0.1) = '10%'.
  pct(r):: '%.15g%%' % (r * 100),

  // seconds reads a Prometheus duration: seconds('1h10m') = 4200.
  seconds(d):: std.foldl(
    function(acc, ch)
      if std.member('0123456789', ch) then acc { n: acc.n * 10 + std.parseInt(ch) }
      else { n: 0, total: acc.total + acc.n * { s: 1, m: 60, h: 3600, d: 86400 }[ch] },
    std.stringChars(d),
    { n: 0, total: 0 },
  ).total,

  // minutes writes seconds as a duration: minutes(4200) = '70m',
  // minutes(150) = '150s'.
  minutes(s):: if s % 60 == 0 then '%dm' % (s / 60) else '%ds' % s,
}
