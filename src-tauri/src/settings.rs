//! Settings kept between runs (`settings.json` in the app's config directory): the
//! signaling server to use, and whether to use synthetic devices.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Settings {
    /// The signaling server; none means the app hosts one.
    pub server: Option<String>,
    /// The synthetic camera, microphone and screen instead of real devices.
    pub fake_devices: bool,
    /// "Let others on my network join": the hosted server listens on every interface
    /// (with a generated passcode on our rooms) instead of 127.0.0.1 only.
    pub lan_hosting: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot write settings to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the server address must start with http:// or https:// (got '{0}')")]
    BadServer(String),
}

impl Settings {
    /// Reads the file; a missing or unreadable one gives the defaults (and says so).
    pub fn load(path: &Path) -> Settings {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable: using defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Writes atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let write = |e| SettingsError::Write {
            path: path.to_path_buf(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(write)?;
        std::fs::rename(&tmp, path).map_err(write)
    }

    /// Checks and tidies what the user typed.
    pub fn normalized(mut self) -> Result<Settings, SettingsError> {
        self.server = match self
            .server
            .map(|s| s.trim().trim_end_matches('/').to_string())
        {
            Some(s) if s.is_empty() => None,
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => Some(s),
            Some(s) => return Err(SettingsError::BadServer(s)),
            None => None,
        };
        Ok(self)
    }
}

/// `HUDDLE_FAKE_DEVICES=1` (or `true`/`yes`) asks for synthetic devices.
pub fn fake_devices_from_env() -> bool {
    std::env::var("HUDDLE_FAKE_DEVICES")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("settings.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let s = Settings {
            server: Some("http://10.0.0.2:4100".into()),
            fake_devices: true,
            lan_hosting: true,
        };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path), s);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
    }

    #[test]
    fn server_addresses_are_checked() {
        let s = Settings {
            server: Some("  http://h:1/ ".into()),
            fake_devices: false,
            lan_hosting: false,
        };
        assert_eq!(
            s.normalized().unwrap().server.as_deref(),
            Some("http://h:1")
        );
        let blank = Settings {
            server: Some(" ".into()),
            fake_devices: false,
            lan_hosting: false,
        };
        assert_eq!(blank.normalized().unwrap().server, None);
        let bad = Settings {
            server: Some("ftp://h".into()),
            fake_devices: false,
            lan_hosting: false,
        };
        assert!(matches!(bad.normalized(), Err(SettingsError::BadServer(_))));
    }
}
