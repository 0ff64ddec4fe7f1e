// static objects, virtual calls, std::string, std::vector
#include <cstdio>
#include <memory>
#include <string>
#include <vector>
struct Tracer {
    std::string name;
    explicit Tracer(const char *n) : name(n) { std::printf("construct %s\n", name.c_str()); }
    ~Tracer() { std::printf("destroy %s\n", name.c_str()); }
};
static Tracer global_tracer("global");
struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual std::string name() const { return "shape"; }
};
struct Square : Shape {
    double s;
    explicit Square(double v) : s(v) {}
    double area() const override { return s * s; }
    std::string name() const override { return "square"; }
};
struct Circle : Shape {
    double r;
    explicit Circle(double v) : r(v) {}
    double area() const override { return 3.0 * r * r; }
};
int main() {
    static Tracer local_static("function-static");
    std::vector<std::unique_ptr<Shape>> shapes;
    shapes.push_back(std::make_unique<Square>(3));
    shapes.push_back(std::make_unique<Circle>(2));
    double total = 0;
    std::string names;
    for (const auto &s : shapes) {
        total += s->area();
        names += s->name() + ",";
    }
    std::vector<int> v;
    for (int i = 0; i < 100; i++) v.push_back(i * i);
    std::printf("total=%.1f names=%s v[99]=%d size=%zu\n", total, names.c_str(), v[99], v.size());
    return static_cast<int>(total) % 256;
}
