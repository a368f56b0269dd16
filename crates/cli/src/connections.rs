//! `ferry connect`, `ferry connections`, `ferry disconnect`: the machine's own connections
//! (ferry-endpoints keeps them sealed), with credentials from flags, stdin or a browser.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use ferry_connectors::auth::Secret;
use ferry_connectors::registry::{self, SERVICES};
use ferry_connectors::service::{
    ConnectMethod, ConnectOption, Credential, Service, Settings, Values,
};
use ferry_endpoints::{Connections, validate_name};

#[derive(Args)]
pub struct ConnectArgs {
    #[arg(value_parser = parse_service, help = registry::names().join(", "))]
    pub service: &'static Service,
    /// The name to use it by (`NAME:` in `ferry transfer`); defaults to the service's name.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub options: ConnectOptions,
    /// Print the authorization URL only; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
}

fn parse_service(text: &str) -> Result<&'static Service, String> {
    registry::named(text).ok_or_else(|| {
        format!(
            "unknown service '{text}' (known: {})",
            registry::names().join(", ")
        )
    })
}

/// The values of `ferry connect`'s credential flags, by key: one `--<key>` flag for each
/// option that the services declare (none is written here).
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions(pub Values);

impl ConnectOptions {
    pub fn with(pairs: &[(&str, &str)]) -> ConnectOptions {
        ConnectOptions(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

/// Every option that is a flag (not one from the environment), once, with the services
/// that declare it, in registry order.
fn flag_options() -> Vec<(
    &'static ConnectOption,
    Vec<(&'static Service, &'static str)>,
)> {
    let mut flags: Vec<(
        &'static ConnectOption,
        Vec<(&'static Service, &'static str)>,
    )> = Vec::new();
    for &service in SERVICES {
        for method in service.methods {
            for option in method.options.iter().filter(|o| o.env.is_none()) {
                let by = (service, option.help);
                match flags.iter_mut().find(|(o, _)| o.key == option.key) {
                    Some((_, services)) => {
                        if !services.iter().any(|(k, _)| *k == by.0) {
                            services.push(by);
                        }
                    }
                    None => flags.push((option, vec![by])),
                }
            }
        }
    }
    flags
}

fn value_name(option: &ConnectOption) -> String {
    option.key.to_uppercase().replace('-', "_")
}

impl clap::FromArgMatches for ConnectOptions {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut values = Values::new();
        for (option, _) in flag_options() {
            if let Some(value) = matches.get_one::<String>(option.key) {
                values.insert(option.key.to_string(), value.clone());
            }
        }
        Ok(ConnectOptions(values))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = ConnectOptions::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for ConnectOptions {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for (option, services) in flag_options() {
            let first = services[0].1;
            let stdin = if option.is_secret() {
                " `-` reads it from stdin."
            } else {
                ""
            };
            let help = if services.iter().all(|(_, h)| *h == first) {
                let names: Vec<&str> = services.iter().map(|(s, _)| s.name).collect();
                format!("{} ({})", first.trim_end_matches('.'), names.join(", "))
            } else {
                services
                    .iter()
                    .map(|(s, h)| format!("{s}: {h}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            cmd = cmd.arg(
                clap::Arg::new(option.key)
                    .long(option.key)
                    // Made once per process, for clap (without its `string` feature).
                    .value_name(&*Box::leak(value_name(option).into_boxed_str()))
                    .help(format!("{help}{stdin}")),
            );
        }
        let from_env: Vec<String> = SERVICES
            .iter()
            .flat_map(|s| s.methods.iter().map(move |m| (s, m)))
            .flat_map(|(s, m)| m.options.iter().map(move |o| (s, o)))
            .filter_map(|(s, o)| {
                o.env.map(|env| {
                    format!(
                        "{}: the {} comes from {env}, else stdin.",
                        s.name,
                        o.label.to_lowercase()
                    )
                })
            })
            .collect();
        cmd.after_help(from_env.join("\n"))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ConnectOptions::augment_args(cmd)
    }
}

/// The machine's own user owns the CLI's connections.
pub const LOCAL: &str = "";

/// Connects an account and stores it.
pub async fn connect(connections: &Connections, args: ConnectArgs) -> Result<()> {
    let service = args.service;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| service.name.to_string());
    validate_name(&name)?;
    if let Some(row) = connections
        .list(LOCAL)
        .await?
        .iter()
        .find(|r| r.name == name)
        && row.service != service.name
    {
        bail!(
            "a {} connection named '{name}' exists already; choose another --name or `ferry disconnect {name}` first",
            row.service
        );
    }
    let (settings, secret) = credentials(connections, service, &name, &args).await?;
    let saved = connections
        .save(LOCAL, &name, service, settings, &secret)
        .await?;
    let verb = if saved.reconnected {
        "reconnected"
    } else {
        "connected"
    };
    println!("{verb} {name}: {} ({})", service.title, saved.account);
    Ok(())
}

/// `--url URL [--user USER]`: what a method asks for on the command line.
fn usage(method: &ConnectMethod) -> String {
    if method.is_oauth() {
        return "no flags (authorizing in a browser)".to_string();
    }
    let mut parts = Vec::new();
    for option in method.options {
        match option.env {
            Some(env) => parts.push(format!(
                "({} from {env} or stdin)",
                option.label.to_lowercase()
            )),
            None if option.required => {
                parts.push(format!("--{} {}", option.key, value_name(option)))
            }
            None => parts.push(format!("[--{} {}]", option.key, value_name(option))),
        }
    }
    parts.join(" ")
}

/// `--a`, `--a and --b`.
fn flag_list(keys: &[&str]) -> String {
    let flags: Vec<String> = keys.iter().map(|k| format!("--{k}")).collect();
    match flags.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => flags.join(""),
    }
}

/// The settings and secret of a new connection, from the flags the service declares (the
/// first of its methods that they fit), else its browser flow.
async fn credentials(
    connections: &Connections,
    service: &'static Service,
    name: &str,
    args: &ConnectArgs,
) -> Result<(Settings, Secret)> {
    let methods = service.methods;
    let given = &args.options.0;
    let ways = || methods.iter().map(usage).collect::<Vec<_>>().join("; or ");
    let foreign: Vec<&str> = given
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !methods
                .iter()
                .any(|m| m.option(k).is_some_and(|o| o.env.is_none()))
        })
        .collect();
    if !foreign.is_empty() {
        let verb = if foreign.len() == 1 { "is" } else { "are" };
        bail!(
            "{} {verb} not for {service} connections; {service} takes {}",
            flag_list(&foreign),
            ways()
        );
    }
    if given.is_empty()
        && let Some(method) = methods.iter().find(|m| m.is_oauth())
    {
        let pkce = matches!(method.credential, Credential::OAuth { pkce: true });
        let secret = authorize(connections, service, name, pkce, args.no_browser).await?;
        return Ok((Settings::default(), secret));
    }
    let method = methods
        .iter()
        .filter(|m| !m.is_oauth())
        .find(|m| given.keys().all(|k| m.option(k).is_some()))
        .ok_or_else(|| anyhow!("these flags do not go together; {service} takes {}", ways()))?;
    if method
        .options
        .iter()
        .any(|o| o.required && o.env.is_none() && !given.contains_key(o.key))
    {
        bail!("{service} needs {}", usage(method));
    }
    let mut values = Values::new();
    for option in method.options {
        let value = match (given.get(option.key), option.env) {
            (Some(value), _) if option.is_secret() => read_secret(value)?,
            (Some(value), _) => value.clone(),
            (None, Some(env)) => match std::env::var(env) {
                Ok(secret) if !secret.is_empty() => secret,
                _ => {
                    if std::io::stdin().is_terminal() {
                        eprintln!("the {} ({env} is not set):", option.label.to_lowercase());
                    }
                    read_secret("-")?
                }
            },
            (None, None) => continue,
        };
        values.insert(option.key.to_string(), value);
    }
    method
        .credentials(&values, &|o| format!("--{}", o.key))
        .map_err(|e| anyhow!("{e}"))
}

/// The browser flow: a loopback redirect, PKCE where the service takes it.
async fn authorize(
    connections: &Connections,
    service: &'static Service,
    name: &str,
    pkce: bool,
    no_browser: bool,
) -> Result<Secret> {
    let config = connections.config()?.service(service);
    let app = service
        .oauth_app(config)
        .ok_or_else(|| anyhow!("{} has no OAuth flow", service.title))?;
    debug_assert_eq!(
        app.pkce, pkce,
        "{service}: the declared method and the app disagree"
    );
    let pending = app.begin(config).await?;
    eprintln!(
        "Authorize ferry to use your {} account ({name}) in a browser:",
        service.title
    );
    // The URL alone on its line, on stdout, so that scripts and tests can read it.
    println!("{}", pending.url);
    if !no_browser {
        open_browser(&pending.url);
    }
    eprintln!("Waiting for the authorization (5 minutes)…");
    let (code, verifier, redirect_uri) = pending.wait(Duration::from_secs(300)).await?;
    let http = ferry_connectors::http::client();
    let verifier = verifier.map(|v| v.into_secret());
    Ok(app
        .exchange(&http, config, &redirect_uri, code, verifier)
        .await?)
}

pub async fn list(connections: &Connections, json: bool) -> Result<()> {
    let rows = connections.list(LOCAL).await?;
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                let settings: Settings = serde_json::from_str(&r.settings).unwrap_or_default();
                serde_json::json!({
                    "name": r.name,
                    "service": r.service,
                    "account": r.account,
                    "url": settings.url,
                    "created_at": r.created_at,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no connections yet: add one with `ferry connect <service>`");
        return Ok(());
    }
    println!("{:<16} {:<14} {:<32} CREATED", "NAME", "SERVICE", "ACCOUNT");
    for r in rows {
        println!(
            "{:<16} {:<14} {:<32} {}",
            r.name,
            r.service,
            r.account,
            r.created_at.get(..10).unwrap_or(&r.created_at)
        );
    }
    Ok(())
}

/// Revokes where the service allows (a failure there is reported, not fatal: the person
/// asked to forget the connection), then deletes.
pub async fn disconnect(connections: &Connections, name: &str) -> Result<()> {
    if let Some(warning) = connections.forget(LOCAL, name).await? {
        eprintln!("ferry: {warning}");
    }
    println!("disconnected {name}");
    Ok(())
}

/// `-` reads a secret from stdin (so that it is not in the process list or shell history).
fn read_secret(value: &str) -> Result<String> {
    if value != "-" {
        return Ok(value.to_string());
    }
    if std::io::stdin().is_terminal() {
        eprint!("secret: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the secret from stdin")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        bail!("no secret on stdin");
    }
    Ok(secret)
}

/// Opens the URL in the person's browser when there is a desktop; best effort.
fn open_browser(url: &str) {
    let desktop =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if desktop || cfg!(target_os = "macos") {
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}
