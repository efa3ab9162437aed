//! One running app: a second `huddle-app …` (a `huddle://` link, `--room`, `--join`)
//! hands its arguments to the running one and exits (tauri-plugin-single-instance; on
//! Linux over the D-Bus session bus, and without one each launch simply runs alone).

use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
use tauri::Manager;

use crate::launch::{LaunchArgs, LaunchOptions};

/// The app's D-Bus name (Linux) is keyed on its identifier; `HUDDLE_INSTANCE` gives a
/// separate one, so tests (or two profiles) run side by side without meeting.
pub fn plugin<R: tauri::Runtime>(identifier: &str) -> tauri::plugin::TauriPlugin<R> {
    let mut builder = tauri_plugin_single_instance::Builder::new().callback(|app, argv, _cwd| {
        show_window(app);
        match options_from_argv(&argv) {
            Ok(Some(options)) => crate::apply_launch(app, options),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "ignored a second launch's arguments"),
        }
    });
    if let Some(id) = instance_id(identifier, std::env::var("HUDDLE_INSTANCE").ok().as_deref()) {
        builder = builder.dbus_id(id);
    }
    builder.build()
}

/// `identifier.i<instance>`, with what a D-Bus name element cannot hold replaced.
fn instance_id(identifier: &str, instance: Option<&str>) -> Option<String> {
    let instance = instance.map(str::trim).filter(|s| !s.is_empty())?;
    let element: String = instance
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Some(format!("{identifier}.i{element}"))
}

fn show_window<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        if let Err(e) = window.set_focus() {
            tracing::debug!(error = %e, "could not focus the window");
        }
    }
}

/// What a second launch asks of the running app, or `None` when it names nothing (a
/// plain `huddle-app` only brings the window up). Its `--server`, like a link's server,
/// waits for the person's confirmation: the running app already has a server.
pub fn options_from_argv(argv: &[String]) -> anyhow::Result<Option<LaunchOptions>> {
    let matches = LaunchArgs::command().try_get_matches_from(argv)?;
    let mut args = LaunchArgs::from_arg_matches(&matches)?;
    // HUDDLE_SERVER is this process's environment, not the second launch's.
    if matches.value_source("server") != Some(ValueSource::CommandLine) {
        args.server = None;
    }
    let (mut options, server) = args.resolve()?;
    options.link_server = options.link_server.or(server);
    let names_something = options.room.is_some()
        || options.email.is_some()
        || options.name.is_some()
        || options.link_server.is_some()
        || options.join;
    Ok(names_something.then_some(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(list: &[&str]) -> Vec<String> {
        std::iter::once("huddle-app")
            .chain(list.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_second_launch_with_a_link_fills_room_passcode_and_server() {
        let o = options_from_argv(&argv(&[
            "huddle://join?room=7&passcode=pw&server=http://h:1",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.room.as_deref(), Some("7"));
        assert_eq!(o.passcode.as_deref(), Some("pw"));
        assert_eq!(o.link_server.as_deref(), Some("http://h:1"));
        assert!(!o.join);
    }

    #[test]
    fn a_second_launch_with_flags_and_its_server_to_confirm() {
        let o = options_from_argv(&argv(&[
            "--room",
            "8",
            "--email",
            "a@b.c",
            "--join",
            "--server",
            "http://s:2",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.room.as_deref(), Some("8"));
        assert_eq!(o.email.as_deref(), Some("a@b.c"));
        assert!(o.join);
        assert_eq!(o.link_server.as_deref(), Some("http://s:2"));
    }

    #[test]
    fn a_plain_second_launch_only_shows_the_window_and_bad_ones_are_errors() {
        assert_eq!(options_from_argv(&argv(&[])).unwrap(), None);
        assert!(options_from_argv(&argv(&["huddle://call?room=1"])).is_err());
        assert!(options_from_argv(&argv(&["--bogus"])).is_err());
    }

    #[test]
    fn instance_ids_are_valid_dbus_elements() {
        assert_eq!(instance_id("app.huddle.desktop", None), None);
        assert_eq!(instance_id("app.huddle.desktop", Some(" ")), None);
        assert_eq!(
            instance_id("app.huddle.desktop", Some("42-test.x")).as_deref(),
            Some("app.huddle.desktop.i42_test_x")
        );
    }
}
