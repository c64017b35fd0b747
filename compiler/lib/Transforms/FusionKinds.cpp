// Placeholder: the fusion-kind table (owned by the fusion work).
