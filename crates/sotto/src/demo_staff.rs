//! The demo's staff: one account per role, ready to sign in to the console, whose passwords
//! and TOTP secrets are printed once and written (owner-only) to the data directory.

use std::path::Path;

use anyhow::Context;

use sotto_app::{App, AppError, Principal, RequestCtx};
use sotto_core::role::Role;
use sotto_store::SqlStore;

/// Creates the accounts that do not exist yet; answers the lines written for new ones.
pub async fn seed(app: &App<SqlStore>, file: &Path) -> anyhow::Result<Vec<String>> {
    let ctx = RequestCtx { principal: Principal::system("demo"), request_id: "demo-staff".into(), source_ip: None, now: jiff::Timestamp::now() };
    let mut lines = Vec::new();
    for role in Role::ALL {
        let email = format!("{}@clinic.example", role.as_str());
        let name = format!("Demo {}", role.as_str());
        let password = format!("clinic demo {}", sotto_crypto::random_id(6));
        match app.create_staff_ready(&ctx, &email, &name, role.as_str(), &password).await {
            Ok(secret) => lines.push(format!("{:<11} {:<28} password: {:<30} TOTP secret: {}", role.as_str(), email, password, sotto_crypto::totp::totp_text(&secret))),
            Err(AppError::Conflict { code: "email_taken", .. }) => {}
            Err(e) => return Err(anyhow::anyhow!("cannot create the demo's {} account: {e}", role.as_str())),
        }
    }
    if !lines.is_empty() {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(file).with_context(|| format!("cannot write {}", file.display()))?;
        std::io::Write::write_all(&mut out, format!("{}\n", lines.join("\n")).as_bytes())?;
    }
    Ok(lines)
}
