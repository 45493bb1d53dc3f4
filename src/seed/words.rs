//! Word lists the generator draws names, titles and text from.

pub const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Beatriz", "Bilal", "Camille", "Chen", "Chidi", "Daniel", "Dmitri",
    "Elena", "Emeka", "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Isaac", "Jae", "Javier", "Julia", "Kai",
    "Kofi", "Lars", "Leila", "Liam", "Lucia", "Mai", "Marco", "Maya", "Mehmet", "Mira", "Nadia", "Noah", "Olga",
    "Omar", "Priya", "Quentin", "Rafael", "Rosa", "Sana", "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wei", "Yara",
    "Yusuf", "Zara", "Zoe",
];

pub const LAST_NAMES: &[&str] = &[
    "Abebe",
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Eze",
    "Fernandes",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kim",
    "Kowalski",
    "Lopez",
    "Mbeki",
    "Moreau",
    "Nakamura",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Tanaka",
    "Usman",
    "Varga",
    "Wang",
    "Williams",
    "Yilmaz",
    "Zhang",
];

pub const COUNTRIES: &[&str] =
    &["US", "GB", "DE", "FR", "BR", "IN", "NG", "JP", "KR", "ES", "IT", "CA", "MX", "PL", "KE", "EG", "ID", "AU"];

/// A subcategory and the topics its courses teach.
pub type Subcategory = (&'static str, &'static [&'static str]);

/// Top-level categories and their subcategories.
pub const CATEGORIES: &[(&str, &[Subcategory])] = &[
    (
        "Programming",
        &[
            ("Web Development", &["React", "TypeScript", "CSS Layout", "Web Accessibility", "GraphQL APIs", "Node.js"]),
            ("Systems Programming", &["Rust", "C", "Operating Systems", "Concurrency", "Compilers", "WebAssembly"]),
            ("Mobile Development", &["Kotlin", "Swift", "Flutter", "Mobile UX", "Offline Sync"]),
        ],
    ),
    (
        "Data",
        &[
            ("Data Science", &["Python for Data", "Pandas", "Data Visualization", "Statistics", "Experiment Design"]),
            ("Machine Learning", &["Neural Networks", "Gradient Boosting", "NLP", "Computer Vision", "MLOps"]),
            ("Databases", &["PostgreSQL", "MongoDB", "SQL Performance", "Data Modeling", "Distributed Databases"]),
        ],
    ),
    (
        "Design",
        &[
            ("UX Design", &["User Research", "Prototyping", "Interaction Design", "Design Systems"]),
            ("Graphic Design", &["Typography", "Color Theory", "Illustration", "Branding"]),
        ],
    ),
    (
        "Business",
        &[
            ("Marketing", &["SEO", "Content Marketing", "Email Campaigns", "Growth Analytics"]),
            ("Finance", &["Accounting Basics", "Corporate Finance", "Personal Investing", "Financial Modeling"]),
            ("Management", &["Leading Teams", "Project Management", "Negotiation", "Product Strategy"]),
        ],
    ),
    (
        "Languages",
        &[
            ("Spanish", &["Spanish Conversation", "Spanish Grammar"]),
            ("Japanese", &["Hiragana and Katakana", "Japanese Conversation", "Kanji"]),
        ],
    ),
];

pub const TITLE_PATTERNS: &[&str] = &[
    "Introduction to {}",
    "{} from Scratch",
    "Practical {}",
    "{} in Depth",
    "Mastering {}",
    "{} for Beginners",
    "Advanced {}",
    "{}: The Complete Guide",
    "Hands-on {}",
    "{} Fundamentals",
    "Modern {}",
    "{} Bootcamp",
];

pub const LESSON_PATTERNS: &[&str] = &[
    "Getting started with {}",
    "Core ideas of {}",
    "Your first {} project",
    "Common mistakes in {}",
    "{} under the hood",
    "Testing {}",
    "{} in production",
    "Debugging {}",
    "Patterns for {}",
    "{} performance",
    "Review: {}",
    "{} case study",
];

pub const TEXT_WORDS: &[&str] = &[
    "learn",
    "build",
    "understand",
    "practice",
    "project",
    "example",
    "exercise",
    "concept",
    "model",
    "design",
    "apply",
    "explore",
    "review",
    "test",
    "improve",
    "measure",
    "skill",
    "tool",
    "step",
    "method",
    "approach",
    "pattern",
    "problem",
    "solution",
    "data",
    "system",
    "team",
    "process",
    "result",
    "quality",
    "performance",
    "structure",
    "workflow",
    "habit",
    "real",
    "world",
    "clear",
    "simple",
    "careful",
    "fast",
    "robust",
];

pub const TAGS: &[&str] = &[
    "beginner-friendly",
    "hands-on",
    "certificate",
    "career",
    "project-based",
    "theory",
    "interview-prep",
    "quick-wins",
    "deep-dive",
    "updated-2025",
    "bestseller",
    "new",
];
