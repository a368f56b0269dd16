//! Mailer against a real SMTP server (aiosmtpd), and against none at all.

mod common;

use std::time::{Duration, Instant};

use common::smtp::{SmtpServer, free_port};
use ferry_server::{MailError, MailSettings, Mailer, ServeSettings, SmtpSecurity};

fn settings(port: u16) -> MailSettings {
    let text = format!(
        "[serve.mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nfrom = \"ferry <ferry@localhost>\"\n"
    );
    let mail = ServeSettings::parse(&text, None).unwrap().mail.unwrap();
    assert_eq!(mail.security, SmtpSecurity::None);
    mail
}

#[tokio::test]
async fn a_utf8_text_mail_arrives_intact() {
    let server = SmtpServer::start();
    let mailer = Mailer::new(&settings(server.port)).unwrap();
    assert_eq!(
        mailer.describe(),
        format!("127.0.0.1:{} (none)", server.port)
    );
    let body = "Bonjour,\n\nTon archive est prête ✓\nhttp://127.0.0.1:8080/archives/42\n\n\
                Une ligne assez longue pour dépasser soixante-seize caractères, ce qui oblige \
                l'encodage à couper la ligne sans la changer.\n";
    mailer
        .send(
            "Zoë <zoe@example.org>",
            "Your archive is ready — ça y est",
            body,
        )
        .await
        .unwrap();

    let mail = server
        .wait_for(
            |m| m.subject.contains("archive is ready"),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(mail.subject, "Your archive is ready — ça y est");
    assert!(mail.to.contains("zoe@example.org"), "{}", mail.to);
    assert!(
        mail.envelope_to.contains("zoe@example.org"),
        "{}",
        mail.envelope_to
    );
    assert!(mail.header("From").unwrap().contains("ferry@localhost"));
    assert!(mail.header("Date").is_some(), "{:?}", mail.headers);
    let message_id = mail.header("Message-ID").unwrap();
    assert!(message_id.ends_with("@localhost>"), "{message_id}");
    let content_type = mail.header("Content-Type").unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(
        content_type.to_ascii_lowercase().contains("utf-8"),
        "{content_type}"
    );
    // Line ends may come back as CRLF; the text itself must be unchanged.
    assert_eq!(mail.body.replace("\r\n", "\n").trim_end(), body.trim_end());

    // Each message gets its own ID.
    mailer
        .send("zoe@example.org", "second", "deux")
        .await
        .unwrap();
    let second = server
        .wait_for(|m| m.subject == "second", Duration::from_secs(10))
        .await;
    assert_ne!(second.header("Message-ID"), Some(message_id));
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test]
async fn an_invalid_recipient_is_refused_before_connecting() {
    // Nothing listens here: the address must be refused first.
    let mailer = Mailer::new(&settings(free_port())).unwrap();
    let err = mailer
        .send("not an address", "subject", "text")
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::InvalidAddress(_)), "{err}");
    assert!(err.is_permanent());
}

#[tokio::test]
async fn a_closed_port_fails_quickly_with_a_clear_error() {
    let port = free_port();
    let mut mail = settings(port);
    // Credentials must never reach the message, whatever goes wrong.
    mail.credentials = Some(ferry_server::SmtpCredentials {
        user: "ferry".into(),
        password: "s3cret-password".to_string().into(),
    });
    let mailer = Mailer::with_timeout(&mail, Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    let err = mailer
        .send("zoe@example.org", "subject", "text")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot send e-mail through 127.0.0.1:{port} (none)"
        )),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert!(!message.contains("s3cret") && !format!("{err:?}").contains("s3cret"));
    assert!(!err.is_permanent());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections and says nothing, not even the greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let mailer = Mailer::with_timeout(&settings(port), Duration::from_secs(1)).unwrap();
    let started = Instant::now();
    let err = mailer
        .send("zoe@example.org", "subject", "text")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, MailError::Timeout { .. }), "{err}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("cannot send e-mail through 127.0.0.1:{port} (none): no answer within 1 s")
    );
    silent.abort();
}
