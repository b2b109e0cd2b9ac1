// Recording rules (none yet).
{
  prometheusRules+:: { groups+: [] },
}
