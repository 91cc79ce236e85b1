"""The CronJob controller (upstream ``cronjob-controller``, the v2 controller)."""
