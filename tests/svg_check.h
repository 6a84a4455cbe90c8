// tests/svg_check.h: a small XML well-formedness check and attribute reader for the SVG tests (no XML library
// is a dependency of tapevit; this is enough to catch unbalanced tags, bad attributes and raw '<' or '&').
#pragma once
#include <cctype>
#include <map>
#include <string>
#include <vector>

namespace tapevit::test {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;  // the character data right after the start tag, up to the next tag (entities left as written)
};

// Every element in document order; `error` is set (and the list cut short) at the first problem.
inline std::vector<XmlElement> parse_xml(const std::string& s, std::string& error) {
  std::vector<XmlElement> out;
  std::vector<std::string> open;
  size_t i = 0;
  auto bad = [&](const std::string& why) { error = why + " at byte " + std::to_string(i); return out; };
  while (i < s.size()) {
    if (s[i] != '<') {
      if (s[i] == '&') {
        const size_t semi = s.find(';', i);
        const std::string ent = semi == std::string::npos ? "" : s.substr(i, semi - i + 1);
        if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") return bad("bad entity");
      }
      ++i;
      continue;
    }
    if (s.compare(i, 2, "<?") == 0) {
      const size_t e = s.find("?>", i);
      if (e == std::string::npos) return bad("unclosed <?");
      i = e + 2;
      continue;
    }
    if (s.compare(i, 2, "</") == 0) {
      const size_t e = s.find('>', i);
      if (e == std::string::npos) return bad("unclosed end tag");
      const std::string name = s.substr(i + 2, e - i - 2);
      if (open.empty() || open.back() != name) return bad("end tag </" + name + "> does not match");
      open.pop_back();
      i = e + 1;
      continue;
    }
    XmlElement el;
    size_t j = i + 1;
    while (j < s.size() && (std::isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == ':')) el.name += s[j++];
    if (el.name.empty()) return bad("empty tag name");
    bool self_closing = false;
    for (;;) {
      while (j < s.size() && std::isspace((unsigned char)s[j])) ++j;
      if (j >= s.size()) return bad("unclosed tag <" + el.name);
      if (s[j] == '>') { ++j; break; }
      if (s.compare(j, 2, "/>") == 0) { j += 2; self_closing = true; break; }
      std::string key;
      while (j < s.size() && (std::isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == ':')) key += s[j++];
      if (key.empty() || j + 1 >= s.size() || s[j] != '=' || s[j + 1] != '"') return bad("bad attribute in <" + el.name);
      const size_t e = s.find('"', j + 2);
      if (e == std::string::npos) return bad("unclosed attribute value");
      const std::string value = s.substr(j + 2, e - j - 2);
      if (value.find('<') != std::string::npos) return bad("raw '<' in an attribute");
      if (el.attrs.count(key)) return bad("attribute given twice");
      el.attrs[key] = value;
      j = e + 1;
    }
    if (!self_closing) {
      open.push_back(el.name);
      el.text = s.substr(j, s.find('<', j) == std::string::npos ? std::string::npos : s.find('<', j) - j);
    }
    out.push_back(el);
    i = j;
  }
  if (!open.empty()) return bad("unclosed <" + open.back() + ">");
  return out;
}

}  // namespace tapevit::test
