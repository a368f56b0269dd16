//! Runs the sandbox until Ctrl-C and prints its `ferry.toml` fragment and credentials:
//! `cargo run -p ferry-sandbox --example serve -- --listen 127.0.0.1:8787 --video-size 50MiB`.

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    sandbox: ferry_sandbox::SandboxOptions,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sb = ferry_sandbox::start(args.sandbox).await?;
    println!("{}", sb.ferry_toml());
    println!(
        "# credentials\n{}",
        serde_json::to_string_pretty(&sb.credentials())?
    );
    println!("# inspection API: {}", sb.urls().inspect_url);
    tokio::signal::ctrl_c().await?;
    sb.shutdown().await;
    Ok(())
}
