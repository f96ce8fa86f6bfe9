/// \file models.cpp
/// \brief The model catalog: parsing models.json and lookups that list the valid names.
#include "atp/sim/cost/models.hpp"

#include "cost_data.hpp"
#include "json_fields.hpp"

#include <stdexcept>

namespace atp::cost {

using detail::FieldPath;
using nlohmann::json;

namespace {

std::int64_t positive(const json& j, const char* key, const FieldPath& w) {
  if (!j.contains(key) || !j.at(key).is_number_integer() || j.at(key).get<std::int64_t>() < 1)
    throw std::invalid_argument(w.at(key) + " must be a whole number >= 1");
  return j.at(key).get<std::int64_t>();
}

bool gated(const json& j, const FieldPath& w) {
  const std::string mlp = detail::string_at(j, "mlp", w);
  if (mlp != "swiglu" && mlp != "gelu") throw std::invalid_argument(w.at("mlp") + " is '" + mlp + "'; valid: swiglu, gelu");
  return mlp == "swiglu";
}

template <class T, class Name>
const T& find(const std::vector<T>& items, const std::string& name, const char* what, Name name_of) {
  std::string valid;
  for (const T& item : items) {
    if (name_of(item) == name) return item;
    valid += (valid.empty() ? "" : ", ") + name_of(item);
  }
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "'; known: " + valid);
}

template <class T, class Name>
std::string names(const std::vector<T>& items, Name name_of) {
  std::string out;
  for (const T& item : items) out += (out.empty() ? "" : ", ") + name_of(item);
  return out;
}

}  // namespace

const DecoderModel& ModelCatalog::decoder(const std::string& name) const {
  return find(decoders, name, "decoder", [](const DecoderModel& m) { return m.shape.name; });
}
const VisionModel& ModelCatalog::vision_model(const std::string& name) const {
  return find(vision, name, "vision encoder", [](const VisionModel& m) { return m.shape.name; });
}
const ProjectorModel& ModelCatalog::projector(const std::string& name) const {
  return find(projectors, name, "projector", [](const ProjectorModel& m) { return m.shape.name; });
}
const VlmModel& ModelCatalog::vlm(const std::string& name) const {
  return find(vlms, name, "model", [](const VlmModel& m) { return m.name; });
}
std::string ModelCatalog::vlm_names() const { return names(vlms, [](const VlmModel& m) { return m.name; }); }
std::string ModelCatalog::decoder_names() const {
  return names(decoders, [](const DecoderModel& m) { return m.shape.name; });
}

ModelCatalog parse_model_catalog(const std::string& json_text, const std::string& origin) {
  const json root = detail::parse_json(json_text, origin);
  detail::check_format(root, "atp-cost-models", 1, origin);
  ModelCatalog c;
  auto list = [&](const char* key) -> const json& {
    if (!root.contains(key) || !root.at(key).is_array())
      throw std::invalid_argument(origin + ": " + key + " must be an array");
    return root.at(key);
  };
  int i = 0;
  for (const json& j : list("decoders")) {
    const FieldPath w{origin, "decoders[" + std::to_string(i++) + "]"};
    DecoderModel m;
    m.shape.name = detail::string_at(j, "name", w);
    m.shape.gated_mlp = gated(j, w);
    m.shape.hidden = positive(j, "hidden", w);
    m.shape.intermediate = positive(j, "intermediate", w);
    m.shape.layers = static_cast<int>(positive(j, "layers", w));
    m.shape.heads = static_cast<int>(positive(j, "heads", w));
    m.shape.kv_heads = static_cast<int>(positive(j, "kv_heads", w));
    m.shape.vocab = positive(j, "vocab", w);
    m.source = detail::string_at(j, "source", w);
    c.decoders.push_back(m);
  }
  i = 0;
  for (const json& j : list("vision_encoders")) {
    const FieldPath w{origin, "vision_encoders[" + std::to_string(i++) + "]"};
    VisionModel m;
    auto& s = m.shape;
    s.name = detail::string_at(j, "name", w);
    s.gated_mlp = gated(j, w);
    s.hidden = positive(j, "hidden", w);
    s.intermediate = positive(j, "intermediate", w);
    s.layers = static_cast<int>(positive(j, "layers", w));
    s.heads = static_cast<int>(positive(j, "heads", w));
    s.patch = static_cast<int>(positive(j, "patch", w));
    s.patch_dim = static_cast<int>(positive(j, "patch_dim", w));
    s.class_token = j.value("class_token", false);
    s.window = j.value("window", 0);
    s.full_attention_layers = j.value("full_attention_layers", std::vector<int>{});
    s.merge = j.value("merge", 1);
    if (s.merge > 1) {
      s.merger_hidden = positive(j, "merger_hidden", w);
      s.merger_out = positive(j, "merger_out", w);
    }
    m.fixed_image = j.value("fixed_image", 0);
    m.source = detail::string_at(j, "source", w);
    c.vision.push_back(m);
  }
  i = 0;
  for (const json& j : list("projectors")) {
    const FieldPath w{origin, "projectors[" + std::to_string(i++) + "]"};
    ProjectorModel m;
    m.shape.name = detail::string_at(j, "name", w);
    m.shape.in = positive(j, "in", w);
    m.shape.hidden = positive(j, "hidden", w);
    m.shape.out = positive(j, "out", w);
    m.shape.drop_class_token = j.value("drop_class_token", false);
    m.source = detail::string_at(j, "source", w);
    c.projectors.push_back(m);
  }
  i = 0;
  for (const json& j : list("vlms")) {
    const FieldPath w{origin, "vlms[" + std::to_string(i++) + "]"};
    VlmModel m;
    m.name = detail::string_at(j, "name", w);
    m.vision = detail::string_at(j, "vision", w);
    m.projector = j.value("projector", std::string());
    m.decoder = detail::string_at(j, "decoder", w);
    m.source = detail::string_at(j, "source", w);
    c.vision_model(m.vision);  // every part must exist
    c.decoder(m.decoder);
    if (!m.projector.empty()) c.projector(m.projector);
    c.vlms.push_back(m);
  }
  return c;
}

const ModelCatalog& model_catalog() {
  static const ModelCatalog c = parse_model_catalog(detail::compiled_models_json(), "compiled in: models.json");
  return c;
}

}  // namespace atp::cost
