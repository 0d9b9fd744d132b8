// fmt_impl.cpp - the compiled part of {fmt}, built once into postern_base
// when POSTERN_STATIC_CXX is on (see the top-level CMakeLists.txt), instead
// of linking Debian's libfmt.so, which would bring the shared libstdc++
// back into every daemon's start-up.
//
// fmt's non-template functions are defined by format-inl.h; the templates
// below are the ones its headers declare but leave to the library to
// instantiate (format.h's `extern template` declarations and the
// floating-point conversion), for the character type Postern uses.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;

}  // namespace detail
FMT_END_NAMESPACE
