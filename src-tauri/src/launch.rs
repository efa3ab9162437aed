//! How the app was asked to start: `huddle-app [--server URL] [--email E] [--room R]
//! [--name N] [--join] [huddle://join?room=R&server=URL]`.

use clap::Parser;
use serde::Serialize;

#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "huddle-app",
    version,
    about = "Huddle: video meetings. Fills the lobby from its arguments; --join joins at once."
)]
pub struct LaunchArgs {
    /// Signaling server URL (default: $HUDDLE_SERVER, the saved setting, or a server
    /// hosted by the app itself).
    #[arg(long, env = "HUDDLE_SERVER")]
    pub server: Option<String>,
    /// Your email address, as others see it.
    #[arg(long)]
    pub email: Option<String>,
    /// Room number to join (letters, digits, '_' and '-').
    #[arg(long)]
    pub room: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Join at once (needs --email and --room).
    #[arg(long)]
    pub join: bool,
    /// Use the synthetic camera, microphone and screen (also HUDDLE_FAKE_DEVICES=1).
    #[arg(long)]
    pub fake_devices: bool,
    /// A join link: huddle://join?room=ROOM[&passcode=P][&server=URL]
    pub link: Option<String>,
}

/// What fills the lobby (sent to the window as `LaunchOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LaunchOptions {
    pub email: Option<String>,
    pub room: Option<String>,
    pub name: Option<String>,
    /// Join at once (only honoured with both email and room).
    pub join: bool,
    /// The room's passcode, from a link.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub passcode: Option<String>,
    /// A link's server: used only once the person confirms it (`use_link_server`).
    #[serde(rename = "linkServer", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub link_server: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("not a Huddle link: {0}")]
    NotHuddle(String),
    #[error("the link has no room: {0}")]
    NoRoom(String),
}

/// A parsed `huddle://join?...` link: only the room, its passcode and the server are
/// read from it (who you are never comes from a link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    pub room: String,
    pub server: Option<String>,
    pub passcode: Option<String>,
}

impl JoinLink {
    pub fn parse(link: &str) -> Result<JoinLink, LinkError> {
        let url = url::Url::parse(link.trim()).map_err(|_| LinkError::NotHuddle(link.into()))?;
        // `huddle://join?…` puts "join" in the host; `huddle:join?…` in the path.
        let action = url
            .host_str()
            .unwrap_or_else(|| url.path())
            .trim_matches('/');
        if url.scheme() != "huddle" || action != "join" {
            return Err(LinkError::NotHuddle(link.into()));
        }
        let mut parsed = JoinLink {
            room: String::new(),
            server: None,
            passcode: None,
        };
        for (key, value) in url.query_pairs() {
            let value = value.trim().to_string();
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                "room" => parsed.room = value,
                "server" => parsed.server = Some(value),
                "passcode" => parsed.passcode = Some(value),
                _ => {}
            }
        }
        if parsed.room.is_empty() {
            return Err(LinkError::NoRoom(link.into()));
        }
        Ok(parsed)
    }
}

impl LaunchArgs {
    /// The lobby's options and the server URL, with a link's values under explicit flags.
    pub fn resolve(&self) -> Result<(LaunchOptions, Option<String>), LinkError> {
        let link = self.link.as_deref().map(JoinLink::parse).transpose()?;
        let pick = |flag: &Option<String>, from_link: Option<&String>| {
            flag.clone()
                .or_else(|| from_link.cloned())
                .filter(|s| !s.trim().is_empty())
        };
        let options = LaunchOptions {
            email: pick(&self.email, None),
            room: pick(&self.room, link.as_ref().map(|l| &l.room)),
            name: pick(&self.name, None),
            join: self.join,
            passcode: link.as_ref().and_then(|l| l.passcode.clone()),
            // A link's server waits for the person's confirmation; --server is theirs.
            link_server: link
                .as_ref()
                .and_then(|l| l.server.clone())
                .filter(|_| self.server.is_none()),
        };
        Ok((options, pick(&self.server, None)))
    }
}

/// A link that arrives while the app runs: fills the lobby's room and passcode; its
/// server waits for confirmation.
pub fn options_from_link(link: &JoinLink) -> LaunchOptions {
    LaunchOptions {
        email: None,
        room: Some(link.room.clone()),
        name: None,
        join: false,
        passcode: link.passcode.clone(),
        link_server: link.server.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> LaunchArgs {
        LaunchArgs::try_parse_from(std::iter::once("huddle-app").chain(list.iter().copied()))
            .unwrap()
    }

    #[test]
    fn parses_join_links() {
        let l =
            JoinLink::parse("huddle://join?room=4242&server=http%3A%2F%2F10.0.0.2%3A4100").unwrap();
        assert_eq!(l.room, "4242");
        assert_eq!(l.server.as_deref(), Some("http://10.0.0.2:4100"));
        let l = JoinLink::parse("huddle:join?room=abc").unwrap();
        assert_eq!(l.room, "abc");
        assert_eq!(l.server, None);
    }

    #[test]
    fn a_link_gives_room_passcode_and_server_never_who_you_are() {
        let l = JoinLink::parse(
            "huddle://join?room=9&passcode=abc&email=evil@x.io&name=Mallory&server=http://h:1",
        )
        .unwrap();
        assert_eq!(
            l,
            JoinLink {
                room: "9".into(),
                server: Some("http://h:1".into()),
                passcode: Some("abc".into()),
            }
        );
        let o = options_from_link(&l);
        assert_eq!((o.email, o.name), (None, None));
        assert_eq!(o.passcode.as_deref(), Some("abc"));
    }

    #[test]
    fn rejects_other_links() {
        assert!(matches!(
            JoinLink::parse("https://join?room=1"),
            Err(LinkError::NotHuddle(_))
        ));
        assert!(matches!(
            JoinLink::parse("huddle://call?room=1"),
            Err(LinkError::NotHuddle(_))
        ));
        assert!(matches!(
            JoinLink::parse("huddle://join?server=x"),
            Err(LinkError::NoRoom(_))
        ));
        assert!(JoinLink::parse("not a url").is_err());
    }

    #[test]
    fn flags_fill_the_lobby_and_win_over_the_link() {
        let (o, server) = args(&[
            "--email",
            "ada@example.com",
            "--room",
            "7",
            "--join",
            "huddle://join?room=9&server=http://h:1",
        ])
        .resolve()
        .unwrap();
        assert_eq!(o.email.as_deref(), Some("ada@example.com"));
        assert_eq!(o.room.as_deref(), Some("7"));
        assert!(o.join);
        // A link's server is not used until confirmed.
        assert_eq!(server, None);
        assert_eq!(o.link_server.as_deref(), Some("http://h:1"));

        // --server is the person's own choice: used at once, the link's is dropped.
        let (o, server) = args(&[
            "--server",
            "http://mine:2",
            "huddle://join?room=9&server=http://h:1",
        ])
        .resolve()
        .unwrap();
        assert_eq!(server.as_deref(), Some("http://mine:2"));
        assert_eq!(o.link_server, None);

        let (o, server) = args(&["huddle://join?room=9"]).resolve().unwrap();
        assert_eq!(o.room.as_deref(), Some("9"));
        assert!(!o.join);
        assert_eq!(server, None);
    }
}
