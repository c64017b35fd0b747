//===- BoolFlags.h - True/False command-line flags, header-only -*- C++ -*-===//
//
// The drivers' boolean flags (issue 3: "--key=value" and "--key value",
// True/False booleans) all take the same three spellings:
//   --nesterov              alone: true (also when another --option follows)
//   --nesterov=False        the attached form
//   --nesterov False        the space form
// with the value one of True/False/true/false/1/0/yes/no/on/off.
//
// Header-only (the standard library and CLI11): `infer` links no
// kiln_tools_common (which pulls in the compiler); link the INTERFACE target
// kiln_tools_cli for the include path.
//===----------------------------------------------------------------------===//
#ifndef KILN_TOOLS_BOOLFLAGS_H
#define KILN_TOOLS_BOOLFLAGS_H

#include <CLI/CLI.hpp>

#include <cctype>
#include <optional>
#include <string>

namespace kiln::tools {

/// The value of a boolean flag's text (case-insensitive); "" (the flag given
/// alone) is true. nullopt when the text is none of the accepted spellings.
inline std::optional<bool> boolFlagValue(const std::string &text) {
  std::string v;
  for (char c : text)
    v += char(std::tolower(static_cast<unsigned char>(c)));
  if (v.empty() || v == "true" || v == "1" || v == "yes" || v == "on")
    return true;
  if (v == "false" || v == "0" || v == "no" || v == "off")
    return false;
  return std::nullopt;
}

/// Declares boolean flag `name` ("--nesterov"): its text lands in `text`
/// ("" when given alone; unchanged when absent), read it after parsing with
/// boolFlagValue (or tools::parseBool, which throws the one-line error).
///
/// Why an option of zero or one value rather than CLI11's add_flag: a flag
/// takes no separate value, so "--nesterov True" left "True" as an unexpected
/// argument. With at most one value CLI11 takes the next argument as the value
/// unless it is itself an option, so "--nesterov --lr 0.1" is still the flag
/// alone followed by --lr.
///
/// The default is written into the help text instead of CLI11's
/// capture_default_str(): with a captured default, CLI11 hands the default
/// ("False") to a flag given alone, which must mean True.
inline CLI::Option *addBoolFlag(CLI::App &app, const std::string &name, std::string &text,
                                const std::string &help) {
  const std::string defaultText = text.empty() ? "" : "; default: " + text;
  return app.add_option(name, text, help + " (True/False; alone: True" + defaultText + ")")
      ->expected(0, 1)
      ->type_name("BOOL");
}

} // namespace kiln::tools

#endif // KILN_TOOLS_BOOLFLAGS_H
