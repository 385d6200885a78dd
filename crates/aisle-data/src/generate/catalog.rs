//! The fixed vocabulary of the synthetic shop: category names with their typical prices and
//! product nouns, title adjectives and pack-size suffixes, and user countries.
//!
//! Names are fixed (not random strings) so that generated catalogues read like a real shop and
//! content-based models have meaningful words to work with. Some titles deliberately contain a
//! comma (pack suffixes) or a double quote (`12" Skillet`) so that every consumer of the files
//! is exercised on CSV quoting.

/// One named category: its display name, the median price of its items (the log-normal's
/// `exp(mu)`) and the nouns its item titles are made from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CategorySpec {
    pub name: &'static str,
    pub median_price: f64,
    pub nouns: [&'static str; 6],
}

const fn spec(name: &'static str, median_price: f64, nouns: [&'static str; 6]) -> CategorySpec {
    CategorySpec {
        name,
        median_price,
        nouns,
    }
}

/// The categories a shop is built from; a shop with `categories = C` uses the first `C`.
/// Names never contain `|`, the separator of the `categories` column.
#[rustfmt::skip]
pub(crate) const CATEGORIES: [CategorySpec; 40] = [
    spec("Books", 14.0, ["Novel", "Cookbook", "Biography", "Atlas", "Poetry Collection", "Graphic Novel"]),
    spec("Electronics", 120.0, ["Tablet", "E-Reader", "Power Bank", "Charger", "Drone", "Projector"]),
    spec("Women's Clothing", 40.0, ["Dress", "Blouse", "Skirt", "Cardigan", "Jumpsuit", "Coat"]),
    spec("Kitchen", 35.0, ["Blender", "Kettle", "Toaster", "Knife Set", "Cutting Board", "12\" Skillet"]),
    spec("Toys & Games", 25.0, ["Board Game", "Puzzle", "Building Set", "Action Figure", "Plush Toy", "Card Game"]),
    spec("Men's Clothing", 40.0, ["Shirt", "Chinos", "Jacket", "Hoodie", "Blazer", "Polo"]),
    spec("Beauty", 20.0, ["Lipstick", "Face Serum", "Moisturizer", "Eyeshadow Palette", "Perfume", "Nail Polish"]),
    spec("Sports", 35.0, ["Yoga Mat", "Dumbbell Set", "Tennis Racket", "Football", "Resistance Bands", "Jump Rope"]),
    spec("Home Decor", 30.0, ["Vase", "Throw Pillow", "Wall Clock", "Candle", "Picture Frame", "Mirror"]),
    spec("Audio", 80.0, ["Headphones", "Earbuds", "Speaker", "Soundbar", "Turntable", "Amplifier"]),
    spec("Shoes", 70.0, ["Sneakers", "Boots", "Sandals", "Loafers", "Running Shoes", "Slippers"]),
    spec("Video Games", 45.0, ["Adventure Game", "Racing Game", "Puzzle Game", "Game Controller", "Strategy Game", "Gaming Headset"]),
    spec("Furniture", 250.0, ["Sofa", "Armchair", "Coffee Table", "Bookshelf", "Desk", "Bed Frame"]),
    spec("Grocery", 8.0, ["Coffee Beans", "Olive Oil", "Dark Chocolate", "Green Tea", "Honey", "Pasta"]),
    spec("Garden", 40.0, ["Garden Hose", "Planter", "Pruning Shears", "Lawn Chair", "Bird Feeder", "Watering Can"]),
    spec("Computer Accessories", 30.0, ["Keyboard", "Mouse", "USB Hub", "Webcam", "Monitor Stand", "Mouse Pad"]),
    spec("Jewelry", 90.0, ["Necklace", "Ring", "Bracelet", "Earrings", "Pendant", "Anklet"]),
    spec("Pet Supplies", 20.0, ["Dog Bed", "Cat Tree", "Pet Bowl", "Leash", "Chew Toy", "Litter Box"]),
    spec("Tools", 45.0, ["Drill", "Hammer", "Screwdriver Set", "Tape Measure", "Wrench Set", "Tool Box"]),
    spec("Bedding", 50.0, ["Duvet", "Pillow", "Sheet Set", "Blanket", "Mattress Topper", "Quilt"]),
    spec("Laptops", 900.0, ["Laptop", "Ultrabook", "Notebook PC", "Chromebook", "Workstation", "2-in-1 Laptop"]),
    spec("Smartphones", 450.0, ["Smartphone", "Phone Case", "Screen Protector", "Phone Grip", "Foldable Phone", "Phone Stand"]),
    spec("Bags", 60.0, ["Backpack", "Tote Bag", "Wallet", "Suitcase", "Messenger Bag", "Duffel"]),
    spec("Health", 15.0, ["Vitamins", "Protein Powder", "Thermometer", "First Aid Kit", "Massage Gun", "Heating Pad"]),
    spec("Outdoor", 80.0, ["Tent", "Sleeping Bag", "Hiking Backpack", "Camping Stove", "Headlamp", "Water Filter"]),
    spec("Baby", 30.0, ["Baby Monitor", "Bottle Set", "Onesie", "Teether", "Baby Carrier", "Crib Mobile"]),
    spec("Watches", 150.0, ["Watch", "Smartwatch", "Chronograph", "Watch Strap", "Dive Watch", "Pocket Watch"]),
    spec("Smart Home", 60.0, ["Smart Plug", "Smart Bulb", "Thermostat", "Doorbell Camera", "Home Hub", "Motion Sensor"]),
    spec("Cameras", 400.0, ["Camera", "Lens", "Tripod", "Action Camera", "Camera Bag", "Flash"]),
    spec("Office Supplies", 10.0, ["Notebook", "Pen Set", "Desk Organizer", "Stapler", "Planner", "Sticky Notes"]),
    spec("Wine & Spirits", 25.0, ["Red Wine", "White Wine", "Whisky", "Gin", "Champagne", "Rum"]),
    spec("Lighting", 45.0, ["Desk Lamp", "Floor Lamp", "String Lights", "Pendant Light", "Night Light", "LED Strip"]),
    spec("Bath", 20.0, ["Bath Towel", "Shower Curtain", "Bath Mat", "Soap Dispenser", "Bathrobe", "Toothbrush Holder"]),
    spec("Arts & Crafts", 15.0, ["Sketchbook", "Watercolor Set", "Paint Brushes", "Yarn", "Canvas", "Colored Pencils"]),
    spec("Cycling", 60.0, ["Bike Helmet", "Bike Light", "Cycling Jersey", "Bike Lock", "Saddle", "Bike Pump"]),
    spec("Automotive", 30.0, ["Car Charger", "Dash Cam", "Floor Mats", "Car Vacuum", "Seat Cover", "Jump Starter"]),
    spec("Musical Instruments", 200.0, ["Acoustic Guitar", "Digital Piano", "Ukulele", "Drum Pad", "Violin", "Microphone"]),
    spec("Travel", 35.0, ["Travel Pillow", "Packing Cubes", "Luggage Tag", "Travel Adapter", "Toiletry Bag", "Passport Holder"]),
    spec("Music", 18.0, ["Vinyl Record", "CD Album", "Songbook", "Box Set", "Cassette", "Concert Poster"]),
    spec("Movies", 16.0, ["Blu-ray", "DVD Collection", "Documentary", "Film Box Set", "Director's Cut", "Anthology"]),
];

/// Adjectives general enough to precede any noun.
#[rustfmt::skip]
pub(crate) const ADJECTIVES: [&str; 32] = [
    "Classic", "Modern", "Compact", "Deluxe", "Essential", "Premium", "Vintage", "Rustic",
    "Sleek", "Everyday", "Pro", "Mini", "Grand", "Urban", "Nordic", "Bright", "Lightweight",
    "Durable", "Elegant", "Signature", "Bold", "Simple", "Iconic", "Original", "Studio",
    "Heritage", "Prime", "Select", "Coastal", "Alpine", "Metro", "Royal",
];

/// Suffixes some titles carry; each contains a comma, so the title must be quoted in CSV.
pub(crate) const PACK_SUFFIXES: [&str; 3] = [", Set of 2", ", Pack of 3", ", Bundle of 4"];

/// Countries of users with their relative weights.
pub(crate) const COUNTRIES: [(&str, f64); 14] = [
    ("US", 30.0),
    ("GB", 10.0),
    ("DE", 10.0),
    ("FR", 8.0),
    ("IN", 8.0),
    ("BR", 6.0),
    ("CA", 5.0),
    ("ES", 5.0),
    ("IT", 5.0),
    ("JP", 4.0),
    ("AU", 3.0),
    ("NL", 3.0),
    ("PL", 2.0),
    ("SE", 1.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_are_unique_and_csv_list_safe() {
        let mut names: Vec<&str> = CATEGORIES.iter().map(|c| c.name).collect();
        assert!(names.iter().all(|n| !n.contains('|') && !n.is_empty()));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATEGORIES.len());
        assert!(CATEGORIES.iter().all(|c| c.median_price > 1.0));
    }
}
