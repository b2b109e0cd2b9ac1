// SPDX-License-Identifier: Apache-2.0

// Recording rules (none yet).
{
  prometheusRules+:: { groups+: [] },
}
