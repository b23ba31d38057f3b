//! demo placeholder
use std::path::Path;
use crate::config::Settings;
pub async fn run(_dir: &Path, _seed: u64, _settings: Settings) -> anyhow::Result<()> { Ok(()) }
