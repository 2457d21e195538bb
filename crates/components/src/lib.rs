//! feedmixer-components
