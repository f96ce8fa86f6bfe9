/// \file timeline_files.hpp
/// \brief A timeline written out: Chrome/Perfetto trace-event JSON (open it
///        at ui.perfetto.dev or chrome://tracing) and a self-contained SVG
///        picture with one lane per rank, for the READMEs.
///
/// Chrome JSON: one "X" (complete) event per span, pid 0, tid = rank, times
/// in microseconds, args holding op, detail, flops and bytes; "M" metadata
/// events name the lanes "rank r". SVG: compute blue, collectives orange,
/// waiting hatched grey, idle after a rank's last span left blank; a time
/// axis in milliseconds and a legend. Neither file needs anything but a
/// browser. Leaves out: flow arrows between ranks; the SVG draws each pixel
/// column as the kind of work that fills most of it (zoom in with until_s,
/// or open the JSON in Perfetto for every span).
#pragma once

#include "atp/sim/cost/timeline.hpp"

#include <string>

namespace atp::cost {

/// The Chrome/Perfetto trace-event JSON of `t`; `title` goes into the metadata.
std::string chrome_trace_json(const Timeline& t, const std::string& title);

/// The SVG picture of `t`, `width` pixels wide (>= 200), with `title` on top, showing the run up to
/// `until_s` seconds (0: the whole makespan). Each pixel column of a lane takes the kind that fills
/// most of it (blank when idle), so the file stays small however many spans there are.
/// \throws std::invalid_argument for a width below 200 or a negative window.
std::string timeline_svg(const Timeline& t, const std::string& title, int width = 960, double until_s = 0);

/// Writes `text` to `path`, creating nothing else. \throws std::invalid_argument naming the path
///         (and that its directory must exist) if it cannot be written.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace atp::cost
