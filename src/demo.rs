//! placeholder
use crate::app::AppError;
pub async fn run(_args: &crate::cli::DemoArgs) -> Result<(), AppError> { Ok(()) }
