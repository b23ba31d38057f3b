//! The monitoring shipped in `deploy/`: the Prometheus alert rules pass `promtool check rules`
//! and their unit tests (`promtool test rules`), which show every alert firing and silent; their
//! thresholds are the `[alerts]` defaults that `status` uses; closed periods never page; the
//! Grafana dashboard imports as is and its expressions are valid PromQL; and every metric the
//! rules and the dashboard name is one that the program itself exports, with the labels they
//! select on, read from the textfile a real `run-now` writes.
//!
//! promtool comes with Debian's `prometheus` package (installed by `.ci/run`). Where it is
//! missing, the tests that need it fail under CI and are skipped, with the reason printed,
//! elsewhere.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use mcap_notify::config::AlertSettings;
use mcap_notify::ingest::FeedKind;
use serde::Deserialize;
use serde_json::Value;

const PREFIX: &str = "mcap_notify_";

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct RuleGroup {
    rules: Vec<AlertRule>,
}

#[derive(Debug, Deserialize)]
struct AlertRule {
    alert: String,
    expr: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Every alerting rule in deploy/prometheus/alerts.yml.
fn alert_rules() -> Vec<AlertRule> {
    let path = deploy("prometheus/alerts.yml");
    let text = std::fs::read_to_string(&path).expect("alerts.yml readable");
    let file: RuleFile = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not a rule file of alerts: {e}", path.display()));
    let rules: Vec<AlertRule> = file.groups.into_iter().flat_map(|g| g.rules).collect();
    assert!(!rules.is_empty(), "alerts.yml holds no rules");
    rules
}

fn dashboard() -> Value {
    let path = deploy("grafana/mcap-notify.json");
    let text = std::fs::read_to_string(&path).expect("dashboard readable");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every query in the dashboard: panel targets and template variable queries.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

/// A metric name with the label names its matchers (or, in a textfile, its series) carry.
type Selector = (String, BTreeSet<String>);

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Each metric an expression selects (names starting with `mcap_notify_`) with the labels its
/// matchers name: `mcap_notify_outbox_messages{state="queued"}` gives `state`.
fn selectors(expr: &str) -> Vec<Selector> {
    let mut out = Vec::new();
    for (at, _) in expr.match_indices(PREFIX) {
        if expr[..at].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        let rest = &expr[at..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let labels = rest[end..]
            .strip_prefix('{')
            .map(label_names)
            .unwrap_or_default();
        out.push((rest[..end].to_string(), labels));
    }
    out
}

/// The label names in `name="value", name=~"value"...}`, values skipped (escapes included).
fn label_names(mut rest: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        if end == 0 {
            return names;
        }
        names.insert(rest[..end].to_string());
        let Some(open) = rest.find('"') else {
            return names;
        };
        let mut escaped = false;
        let value = &rest[open + 1..];
        let close = value.char_indices().find(|&(_, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        });
        let Some((close, _)) = close else {
            return names;
        };
        rest = &value[close + 1..];
    }
}

/// The metric names (starting with `mcap_notify_`) an expression uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    selectors(expr).into_iter().map(|(name, _)| name).collect()
}

/// The numbers in an expression, durations with their unit (`30m`), skipping quoted label
/// values and the digits inside names.
fn numbers(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    let mut previous = ' ';
    while let Some((at, c)) = chars.next() {
        if c == '"' {
            for (_, q) in chars.by_ref() {
                if q == '"' {
                    break;
                }
            }
            previous = '"';
            continue;
        }
        if c.is_ascii_digit() && !(previous.is_ascii_alphanumeric() || previous == '_') {
            let mut end = at + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '.' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(expr[at..end].to_string());
            previous = '0';
            continue;
        }
        previous = c;
    }
    out.sort();
    out
}

/// Runs promtool in `dir` and fails the test, showing its output, unless it succeeds.
fn run_promtool(promtool: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    text
}

#[test]
fn the_alert_rules_pass_promtool_check_rules() {
    let Some(promtool) = promtool() else { return };
    let text = run_promtool(
        &promtool,
        &deploy("prometheus"),
        &["check", "rules", "alerts.yml"],
    );
    let rules = alert_rules().len();
    assert!(
        text.contains(&format!("SUCCESS: {rules} rules found")),
        "{text}"
    );
}

#[test]
fn every_alert_passes_its_promtool_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let text = run_promtool(
        &promtool,
        &deploy("prometheus"),
        &["test", "rules", "alerts_test.yml"],
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_unit_tests_show_every_alert_both_firing_and_silent() {
    let path = deploy("prometheus/alerts_test.yml");
    let text = std::fs::read_to_string(&path).expect("alerts_test.yml readable");
    let tests: Value = serde_yaml_ng::from_str(&text).expect("alerts_test.yml is YAML");
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests["tests"].as_array().expect("a list of tests") {
        for check in case["alert_rule_test"].as_array().into_iter().flatten() {
            let name = check["alertname"].as_str().expect("alertname").to_string();
            let expected = check["exp_alerts"].as_array().map_or(0, Vec::len);
            if expected > 0 {
                firing.insert(name);
            } else {
                silent.insert(name);
            }
        }
    }
    let alerts: BTreeSet<String> = alert_rules().into_iter().map(|r| r.alert).collect();
    assert_eq!(
        firing, alerts,
        "each alert, and only those, is shown firing"
    );
    assert_eq!(
        silent, alerts,
        "each alert, and only those, is shown silent"
    );
}

#[test]
fn the_alert_thresholds_are_the_alerts_defaults_status_uses() {
    let s = AlertSettings::default();
    // A stale or lagging condition: more than N minutes (`N * 60` seconds) while the service
    // has been open (`== 1`) for the last N minutes (`[Nm]`).
    let open_for = |minutes: u64| {
        let n = minutes.to_string();
        vec![n.clone(), "60".into(), format!("{n}m"), "1".into()]
    };
    let expected: BTreeMap<&str, Vec<String>> = [
        ("McapNotifyBatchStale", open_for(s.batch_stale_minutes)),
        ("McapNotifyDeliveryStale", open_for(s.deliver_stale_minutes)),
        ("McapNotifyWatermarkLag", open_for(s.watermark_lag_minutes)),
        ("McapNotifyOldestDueMessage", open_for(s.oldest_due_minutes)),
        (
            "McapNotifyBounceRate",
            vec![
                "1h".into(),
                "1h".into(),
                "1h".into(),
                s.bounce_rate.to_string(),
                s.bounce_rate_min_sent.to_string(),
            ],
        ),
    ]
    .into_iter()
    .map(|(name, mut numbers)| {
        numbers.sort();
        (name, numbers)
    })
    .collect();
    let rules = alert_rules();
    for (name, want) in &expected {
        let rule = rules
            .iter()
            .find(|r| r.alert == *name)
            .unwrap_or_else(|| panic!("alerts.yml has no alert {name}"));
        assert_eq!(
            &numbers(&rule.expr),
            want,
            "{name}: the numbers in its expression are not the [alerts] defaults:\n{}",
            rule.expr
        );
    }
}

#[test]
fn every_alert_says_how_urgent_it_is_and_what_to_look_at() {
    for rule in alert_rules() {
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("page" | "ticket")),
            "{}: severity must be page or ticket, not {severity:?}",
            rule.alert
        );
        for key in ["summary", "description", "runbook"] {
            assert!(
                rule.annotations
                    .get(key)
                    .is_some_and(|t| !t.trim().is_empty()),
                "{}: no {key} annotation",
                rule.alert
            );
        }
        assert!(
            rule.annotations["runbook"].contains("mcap-notify "),
            "{}: the runbook names no mcap-notify command",
            rule.alert
        );
    }
}

#[test]
fn only_a_down_daemon_pages_without_the_service_being_open() {
    // A closure (night, weekend, holiday, outage) stops runs and delivery by design: any
    // paging condition it could cause must hold only while the calendar says open.
    for rule in alert_rules() {
        if rule.labels["severity"] == "page" && rule.alert != "McapNotifyDown" {
            assert!(
                metric_names(&rule.expr).contains("mcap_notify_service_open"),
                "{} pages without requiring the service to be open:\n{}",
                rule.alert,
                rule.expr
            );
        }
    }
}

#[test]
fn the_dashboard_imports_as_is() {
    let d = dashboard();
    assert_eq!(d["title"], "mcap-notify");
    assert_eq!(d["uid"], "mcap-notify");
    assert!(d["schemaVersion"].as_u64().is_some(), "no schemaVersion");
    assert!(
        d["id"].is_null(),
        "an id would clash with the importing Grafana's"
    );
    let variables = d["templating"]["list"]
        .as_array()
        .expect("template variables");
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        let id = panel["id"].as_u64().expect("a panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(
            panel["gridPos"]["w"].is_u64(),
            "{}: no gridPos",
            panel["title"]
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}: no query", panel["title"]);
        // Every query goes to the chosen Prometheus, never to one that exists only here.
        for source in
            std::iter::once(&panel["datasource"]).chain(targets.iter().map(|t| &t["datasource"]))
        {
            assert_eq!(source["type"], "prometheus", "{}", panel["title"]);
            assert_eq!(source["uid"], "${datasource}", "{}", panel["title"]);
        }
    }
}

#[test]
fn the_dashboard_queries_are_valid_promql() {
    let Some(promtool) = promtool() else { return };
    // Grafana's variables replaced by values of their kind, then each query checked as the
    // expression of a recording rule.
    let rules: Vec<Value> = dashboard_queries(&dashboard())
        .iter()
        .filter(|q| q.contains(PREFIX) && !q.starts_with("label_values("))
        .enumerate()
        .map(|(i, q)| {
            let expr = q
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("$job", ".*")
                .replace("$instance", ".*");
            assert!(
                !expr.contains('$'),
                "a variable this test does not know: {q}"
            );
            serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let count = rules.len();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("queries.yml"),
        serde_yaml_ng::to_string(&file).unwrap(),
    )
    .unwrap();
    let text = run_promtool(&promtool, dir.path(), &["check", "rules", "queries.yml"]);
    assert!(
        text.contains(&format!("SUCCESS: {count} rules found")),
        "{text}"
    );
}

/// What a real `run-now` writes to its textfile: the metric families (`# TYPE name type`) and
/// each series with its label names.
async fn exported() -> (BTreeMap<String, String>, Vec<Selector>) {
    const CASE: &str = "2616-CV00001";
    let t = TestApp::one_case(|_| {}, CASE, Some("2026-01-01T00:00:00Z")).await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", CASE, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    let textfile = t.dir.path().join("m.prom");
    let out = t
        .command()
        .env("MCAP_NOTIFY__METRICS__TEXTFILE", &textfile)
        .args(["run-now", "--ignore-windows"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&textfile).unwrap_or_else(|e| {
        panic!(
            "run-now wrote no metrics textfile at {}: {e}",
            textfile.display()
        )
    });
    let families: BTreeMap<String, String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect();
    assert!(
        families.keys().any(|name| name.starts_with(PREFIX)),
        "no mcap_notify_ family in the textfile:\n{text}"
    );
    let series = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .flat_map(|line| selectors(line).into_iter().take(1))
        .collect();
    (families, series)
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_name_is_one_the_program_exports() {
    let (exported, series) = exported().await;
    let mut used: Vec<(Selector, &str)> = Vec::new();
    for rule in alert_rules() {
        used.extend(selectors(&rule.expr).into_iter().map(|s| (s, "alerts.yml")));
    }
    for query in dashboard_queries(&dashboard()) {
        used.extend(
            selectors(&query)
                .into_iter()
                .map(|s| (s, "mcap-notify.json")),
        );
    }
    assert!(
        used.iter()
            .any(|((name, _), _)| name == "mcap_notify_run_stage_seconds_bucket"),
        "the dashboard shows no stage-time quantiles"
    );
    for ((name, labels), file) in &used {
        let known = exported.contains_key(name)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix).is_some_and(|family| {
                    matches!(
                        exported.get(family).map(String::as_str),
                        Some("histogram" | "summary")
                    ) && (*suffix != "_bucket" || exported[family] == "histogram")
                })
            });
        assert!(
            known,
            "{file} uses {name}, which the program does not export; it exports: {:?}",
            exported.keys().collect::<Vec<_>>()
        );
        // The target's labels come from Prometheus; the program's own `job` label is stored
        // beside it as `exported_job`.
        let wanted: BTreeSet<&str> = labels
            .iter()
            .filter(|l| !matches!(l.as_str(), "job" | "instance"))
            .map(|l| {
                if l == "exported_job" {
                    "job"
                } else {
                    l.as_str()
                }
            })
            .collect();
        for (_, carried) in series.iter().filter(|(n, _)| n == name) {
            let carried: BTreeSet<&str> = carried.iter().map(String::as_str).collect();
            assert!(
                wanted.is_subset(&carried),
                "{file} selects {name} by {wanted:?}, but the program writes it with {carried:?}"
            );
        }
    }
}

#[test]
fn metric_names_and_numbers_are_read_from_expressions() {
    let expr = r#"sum by (le) (rate(mcap_notify_a_bucket{x="2"}[5m])) / mcap_notify_b2 > 0.05 and on() xmcap_notify_c >= 20"#;
    assert_eq!(
        metric_names(expr).into_iter().collect::<Vec<_>>(),
        ["mcap_notify_a_bucket", "mcap_notify_b2"]
    );
    assert_eq!(numbers(expr), ["0.05", "20", "5m"]);
    let labelled = r#"mcap_notify_a{job=~"$job", verdict=~"a\"b,c=d", le="+Inf"} 3"#;
    let (name, labels) = &selectors(labelled)[0];
    assert_eq!(name, "mcap_notify_a");
    assert_eq!(labels.iter().collect::<Vec<_>>(), ["job", "le", "verdict"]);
}
